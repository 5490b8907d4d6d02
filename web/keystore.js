// Keeps the WRAPPED key (passphrase-encrypted bytes) in IndexedDB; the raw key is never stored.
const DB = 'more-keys';
const STORE = 'wrapped';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(mode, fn) {
  return open().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => { db.close(); resolve(req.result); };
    t.onerror = () => reject(t.error);
  }));
}

/** Stores the wrapped key file under a fixed slot. */
export const save = (fingerprint, wrapped) => tx('readwrite', (s) => s.put({ fingerprint, wrapped }, 'current'));
/** The stored {fingerprint, wrapped}, or undefined. */
export const load = () => tx('readonly', (s) => s.get('current'));
