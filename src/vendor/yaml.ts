/*
 * The yaml package, made one file by the build (esbuild, package.json
 * "build"): its 72 CommonJS files took longer to load than a node's whole
 * check with nothing new. Import YAML from here, not from 'yaml' (biome
 * says so), so that a process loads it once, bundled.
 */
export {isAlias, isCollection, isMap, isScalar, isSeq, LineCounter, parse, parseDocument, stringify, visit} from 'yaml'
export type {Document, Node, YAMLMap} from 'yaml'
