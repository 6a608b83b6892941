import {stringify} from '../vendor/yaml.js'

import type {TemplateDescriptor} from '../contracts.js'
import {UsageError} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import type {Runtime} from '../runtime.js'
import {storeDescriptor, storeUrl} from '../store/open-store.js'
import {nodesToCompile} from '../validate/validate.js'
import {nodeTrustedKeys, storeSettings} from './context.js'

/**
 * Where a pipeline job keeps pupistry's files, relative to its working
 * directory (outside the checkout, so `build --source` never packs them):
 * settings, trusted keys, the build cache and, when publishing, the signing key.
 */
export const CI_PATHS = {
  appCache: 'cache',
  signingKey: 'signing-key.asc',
  trustedKeys: 'trusted-keys',
} as const

/** Everything a `ci` template may use, documented in docs/ci.md. */
export interface CiContext {
  template: {name: string; description: string}
  pupistry: {version: string; plugins: Array<{name: string; version: string}>}
  npm_registry: string | null
  /** Branches whose merges are published, each an environment (r10k's rule: other characters become `_`). */
  branches: Array<{branch: string; environment: string}>
  /** A regular expression that matches exactly those branch names, for rules that take one. */
  /** GitLab rules: a pull request to, and a push on, an environment branch. */
  gitlab_rules: {review: string; publish: string}
  /** Settings for pull-request jobs: the store and trusted keys, no signing key. */
  review_settings_yaml: string
  /** Settings for publish jobs: as review_settings_yaml, plus the signing key file the job writes. */
  publish_settings_yaml: string
  trusted_keys: Array<{file: string; text: string}>
  paths: {app_cache: string; signing_key: string; trusted_keys: string}
  /** The store is S3: publish and review jobs get AWS credentials through the provider's OIDC. */
  aws: {region: string | null} | null
}

export interface CiOptions {
  branches: string[]
  plugins: Array<{name: string; version: string}>
}

/**
 * The context of a pipeline: the store and trusted keys from the settings
 * (never credentials, never a signing key: those come from the CI
 * provider's secrets and OIDC), and the pinned versions to install.
 */
export async function ciContext(
  runtime: Runtime,
  options: CiOptions,
): Promise<(descriptor: TemplateDescriptor) => CiContext> {
  const {settings} = runtime
  const url = storeUrl(runtime, 'build')
  const fromStore = storeSettings(settings, [await storeDescriptor(runtime, url)]).general
  const region = settings.build.region ?? settings.agent.region ?? null
  const nodes = await nodesToCompile(settings)
  const general = {
    ...fromStore,
    app_cache: CI_PATHS.appCache,
    trusted_keys: [CI_PATHS.trustedKeys],
    ...(settings.general.manifest_ttl ? {manifest_ttl: settings.general.manifest_ttl} : {}),
    ...(settings.general.gpg_disable ? {gpg_disable: true} : {}),
  }
  const build = {
    ...(settings.build.assembler ? {assembler: settings.build.assembler} : {}),
    ...(region ? {region} : {}),
    ...(nodes.length > 0 ? {validate_nodes: nodes} : {}),
  }
  const yaml = (value: object) =>
    `# Written by pupistry ci init (pupistry ${runtime.version}); run it again to change it.\n` +
    stringify(value, {aliasDuplicateObjects: false, lineWidth: 0})
  const review = Object.keys(build).length > 0 ? {build, general} : {general}
  const publish = {...review, general: {...general, signing_key_file: CI_PATHS.signingKey}}
  for (const branch of options.branches) {
    if (!/^[\w][\w./-]*$/.test(branch) || branch.includes('..'))
      throw new UsageError(`not a branch name pupistry publishes from: ${branch} (letters, digits, ".", "/", "-", "_")`)
  }

  const escaped = options.branches.map((branch) => branch.replaceAll(/[./-]/g, (char) => `\\${char}`))
  const branches = `/^(${escaped.join('|')})$/`
  const base = {
    aws: url.protocol === 's3:' ? {region} : null,
    gitlab_rules: {
      publish: `$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH =~ ${branches}`,
      review: `$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ ${branches}`,
    },
    branches: options.branches.map((branch) => ({
      branch,
      environment: checkEnvironmentName(branch.replace(/\W/g, '_')),
    })),
    npm_registry: settings.bootstrap.npm_registry ?? null,
    paths: {app_cache: CI_PATHS.appCache, signing_key: CI_PATHS.signingKey, trusted_keys: CI_PATHS.trustedKeys},
    publish_settings_yaml: yaml(publish),
    pupistry: {plugins: options.plugins, version: runtime.version},
    review_settings_yaml: yaml(review),
    trusted_keys: await nodeTrustedKeys(runtime),
  }
  return (descriptor) => ({...base, template: {description: descriptor.description, name: descriptor.name}})
}
