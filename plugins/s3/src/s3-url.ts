/** The key prefix of a store URL (s3://bucket/prefix/): what manifests are bound to. Cheap: the hook uses it without the SDK. */
export function prefixOf(url: URL): string {
  const prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''))
  return prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix
}
