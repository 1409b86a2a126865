// wgsl_reflect 1.6's package.json points Node at a CommonJS build under "type": "module", which
// Node loads as an empty ES module; its ES build, wgsl_reflect.module.js, works everywhere.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
