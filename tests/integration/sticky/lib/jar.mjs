// A minimal per-client cookie jar for tests that play a browser: keeps what Set-Cookie fields
// set (name -> value), forgets what they delete, and sends the rest back in one Cookie field.
//
//   const jar = new CookieJar();
//   jar.store(res);                      // after each response (backends.request's result)
//   await request(port, { headers: jar.headers() });

import { setCookies, parseSetCookie } from './sticky.mjs';

export class CookieJar {
  constructor() {
    this.cookies = new Map();
    this.setLog = []; // every Set-Cookie field seen, raw
  }

  store(res) {
    for (const raw of setCookies(res)) {
      this.setLog.push(raw);
      const c = parseSetCookie(raw);
      const attr = (name) => c.attrs.find(([k]) => k.toLowerCase() === name)?.[1];
      const maxAge = attr('max-age');
      const expires = attr('expires');
      const deleted = c.value === '' || (maxAge !== undefined ? Number(maxAge) <= 0 : expires !== undefined && Date.parse(expires) < Date.now());
      if (deleted) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  get(name) {
    return this.cookies.get(name);
  }

  headers(extra = {}) {
    if (this.cookies.size === 0) return { ...extra };
    return { ...extra, cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }
}
