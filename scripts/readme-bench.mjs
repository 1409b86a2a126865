// Writes a benchmark run's report.md (bnn bench all) into the README's performance section,
// between the `<!-- bench:begin PATH -->` and `<!-- bench:end -->` markers, PATH naming the run.
// Usage: node scripts/readme-bench.mjs bench/results/<run>/report.md   (npm run readme:bench -- PATH)
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2];
if (!path) {
  console.error('usage: node scripts/readme-bench.mjs bench/results/<run>/report.md');
  process.exit(2);
}
const report = readFileSync(path, 'utf8').trim();
const readme = readFileSync('README.md', 'utf8');
const pattern = /<!-- bench:begin [^>]*-->[\s\S]*?<!-- bench:end -->/;
if (!pattern.test(readme)) {
  console.error('README.md has no <!-- bench:begin ... --> ... <!-- bench:end --> block to replace');
  process.exit(1);
}
writeFileSync('README.md', readme.replace(pattern, () => `<!-- bench:begin ${path} -->\n${report}\n<!-- bench:end -->`));
console.log(`README.md: performance section from ${path}`);
