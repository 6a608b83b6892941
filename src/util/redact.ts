/**
 * A URL for messages: any password or token in it is replaced, so logs never
 * carry it. That covers the user-info part and the query string, where
 * presigned and CDN URLs keep their signatures (`?X-Amz-Signature=`, `?token=`).
 */
export function redactUrl(value: string): string {
  return value
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]+)@/i, (_match, scheme: string, userinfo: string) => {
      const user = userinfo.split(':')[0]
      return userinfo.includes(':') ? `${scheme}${user}:***@` : `${scheme}***@`
    })
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^?#\s]*)\?[^#\s]*/i, '$1?***')
}
