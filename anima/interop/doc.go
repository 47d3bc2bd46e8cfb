// Package interop checks anima's agent JWTs against an independent JOSE
// implementation, panva/jose on Node.js: tokens anima issues verify there,
// and tokens jose signs verify in anima's verifier, for ES256 and ES256K.
// The npm dependency is pinned in package.json / package-lock.json here;
// install it with `npm ci` in this directory.
package interop
