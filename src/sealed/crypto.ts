import {SealedDataError} from '../errors.js'

/** openpgp.js is loaded only by commands that seal or unseal: the no-change check stays light. */
const openpgp = () => import('openpgp')

/** The primary key fingerprint of an armoured public key, upper-case hex. */
export async function fingerprintOf(armoredKey: string, where: string): Promise<string> {
  const {readKey} = await openpgp()
  try {
    const key = await readKey({armoredKey})
    if (key.isPrivate()) throw new Error('it is a secret key')
    await key.getEncryptionKey()
    return key.getFingerprint().toUpperCase()
  } catch (error) {
    throw new SealedDataError(`${where}: not a usable OpenPGP encryption key (${(error as Error).message})`)
  }
}

/**
 * Encrypts to every key given, with the recipients' key IDs hidden
 * (wildcard), so a bundle does not say whose it is.
 */
export async function encryptTo(data: Uint8Array, armoredKeys: string[]): Promise<Uint8Array> {
  const {createMessage, encrypt, readKey} = await openpgp()
  const encryptionKeys = await Promise.all(armoredKeys.map((armoredKey) => readKey({armoredKey})))
  const message = await createMessage({binary: data})
  return (await encrypt({encryptionKeys, format: 'binary', message, wildcard: true})) as Uint8Array
}

/** Decrypts with the node's secret key; any failure (not a recipient, corrupt) is a refusal. */
export async function decryptWith(data: Uint8Array, armoredSecretKey: string, where: string): Promise<Uint8Array> {
  const {decrypt, readMessage, readPrivateKey} = await openpgp()
  const key = await readPrivateKey({armoredKey: armoredSecretKey}).catch((error: Error) => {
    throw new SealedDataError(`the node key cannot be read (${error.message})`)
  })
  try {
    const message = await readMessage({binaryMessage: data})
    const {data: plain} = await decrypt({decryptionKeys: key, format: 'binary', message})
    return plain as Uint8Array
  } catch (error) {
    throw new SealedDataError(`${where}: cannot be decrypted with this node's key (${(error as Error).message})`)
  }
}

/** A new node key pair (ECC: Ed25519 with a Curve25519 encryption subkey, which GnuPG 2.2 reads too). */
export async function generateNodeKey(
  userId: string,
): Promise<{secretKey: string; publicKey: string; fingerprint: string}> {
  const {generateKey, readKey} = await openpgp()
  const {privateKey, publicKey} = await generateKey({format: 'armored', type: 'ecc', userIDs: [{name: userId}]})
  const fingerprint = (await readKey({armoredKey: publicKey})).getFingerprint().toUpperCase()
  return {fingerprint, publicKey, secretKey: privateKey}
}

/** The fingerprint of the node's own (secret) key. */
export async function secretKeyFingerprint(armoredSecretKey: string, where: string): Promise<string> {
  const {readPrivateKey} = await openpgp()
  try {
    return (await readPrivateKey({armoredKey: armoredSecretKey})).getFingerprint().toUpperCase()
  } catch (error) {
    throw new SealedDataError(`${where}: not an OpenPGP secret key (${(error as Error).message})`)
  }
}
