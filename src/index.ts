/**
 * The public entry point: the plugin contracts. Plugins import these as
 * types; the core is their peer dependency.
 */
export * from './contracts.js'
