// Stands in for Node's built-ins in the browser build: the library imports them only on its Node
// paths (file system, Dawn), which never run in a page.
export default {};
