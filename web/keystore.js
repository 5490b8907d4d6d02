// @ts-check
// The keys remembered in this browser, in IndexedDB: each WRAPPED (passphrase-encrypted, Argon2id +
// XChaCha20-Poly1305) under its fingerprint, with the name the user gave it and its public compact
// basis C0 (to tell which datasets on the node are its own). The raw key is never stored.
//
// Version 1 of the database kept one slot ('wrapped' store, key 'current'), overwritten by every
// "Remember"; opening version 2 moves that key into the new store (named "Remembered key") and
// drops the old slot, so nothing remembered before is lost.

const DB = 'more-keys';
const VERSION = 2;
const STORE = 'keys';
const OLD_STORE = 'wrapped';
/** The name given to the key found in the version-1 slot. */
export const MIGRATED_NAME = 'Remembered key';

/**
 * One remembered key.
 * @typedef {object} StoredKey
 * @property {string} fingerprint 16 hex digits (public).
 * @property {string} name The name the user gave it.
 * @property {Uint8Array} wrapped The key file bytes (passphrase-encrypted).
 * @property {number[] | null} basis The public compact basis C0 (row-major 2×2); null for a key
 *   moved from the version-1 slot until it is unlocked once.
 * @property {number | null} generation Key generation (1 or 2), null when not known yet.
 * @property {number} savedAt When it was remembered (ms since 1970).
 */

/** Moves the version-1 slot into the new store inside the upgrade transaction. */
function migrate(/** @type {IDBDatabase} */ db, /** @type {IDBTransaction} */ t) {
  const keys = db.createObjectStore(STORE, { keyPath: 'fingerprint' });
  if (!db.objectStoreNames.contains(OLD_STORE)) return;
  const old = t.objectStore(OLD_STORE).get('current');
  old.onsuccess = () => {
    const v = old.result;
    if (v?.fingerprint && v.wrapped) {
      keys.put({ fingerprint: v.fingerprint, name: MIGRATED_NAME, wrapped: v.wrapped, basis: null,
        generation: null, savedAt: Date.now() });
    }
    db.deleteObjectStore(OLD_STORE);
  };
}

/** @returns {Promise<IDBDatabase>} */
function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const t = req.transaction;
      if (t && !req.result.objectStoreNames.contains(STORE)) migrate(req.result, t);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Runs `fn` on the store in one transaction; resolves with its request's result once committed.
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(s: IDBObjectStore) => IDBRequest<T>} fn
 * @returns {Promise<T>}
 */
function tx(mode, fn) {
  return open().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => { db.close(); resolve(req.result); };
    t.onerror = () => { db.close(); reject(t.error); };
  }));
}

/**
 * Remembers a key (replaces the entry of the same fingerprint: a new passphrase or name).
 * @param {Omit<StoredKey, 'savedAt'> & { savedAt?: number }} key
 * @returns {Promise<void>}
 */
export const save = (key) => tx('readwrite', (s) => s.put({ ...key, savedAt: key.savedAt ?? Date.now() }))
  .then(() => undefined);

/**
 * Every remembered key, oldest first.
 * @returns {Promise<StoredKey[]>}
 */
export const list = () => tx('readonly', (s) => s.getAll())
  .then((all) => /** @type {StoredKey[]} */ (all).sort((a, b) => a.savedAt - b.savedAt));

/**
 * The remembered key of `fingerprint`, or undefined.
 * @param {string} fingerprint
 * @returns {Promise<StoredKey | undefined>}
 */
export const get = (fingerprint) => tx('readonly', (s) => s.get(fingerprint));

/**
 * Forgets the remembered key of `fingerprint` (its wrapped bytes are deleted from this browser).
 * @param {string} fingerprint
 * @returns {Promise<void>}
 */
export const remove = (fingerprint) => tx('readwrite', (s) => s.delete(fingerprint)).then(() => undefined);

/**
 * The most recently remembered key, or undefined (what version 1's one slot answered).
 * @returns {Promise<StoredKey | undefined>}
 */
export const load = () => list().then((all) => all.at(-1));
