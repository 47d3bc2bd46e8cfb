// Reads {verify: [{token, jwk, alg, aud}], sign: [{jwk, alg, kid, sub, aud, ttl}]}
// on stdin; verifies and signs agent JWTs with panva/jose; writes the
// results as JSON on stdout. Used by interop_test.go.
import * as jose from 'jose';

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => { s += d; });
  process.stdin.on('end', () => resolve(s));
}));

const verified = [];
for (const v of input.verify) {
  try {
    const key = await jose.importJWK(v.jwk, v.alg);
    const { payload, protectedHeader } = await jose.jwtVerify(v.token, key, {
      audience: v.aud, typ: 'agent+jwt', algorithms: [v.alg], requiredClaims: ['iss', 'sub', 'jti', 'iat', 'exp'],
    });
    const thumbprint = await jose.calculateJwkThumbprint(v.jwk, 'sha256');
    verified.push({ ok: true, kid: protectedHeader.kid, iss_is_thumbprint: payload.iss === thumbprint });
  } catch (e) {
    verified.push({ ok: false, error: String(e) });
  }
}

const signed = [];
for (const s of input.sign) {
  const key = await jose.importJWK(s.jwk, s.alg);
  const pub = { kty: s.jwk.kty, crv: s.jwk.crv, x: s.jwk.x, y: s.jwk.y };
  const token = await new jose.SignJWT({ sub: s.sub, jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: s.alg, typ: 'agent+jwt', kid: s.kid })
    .setIssuer(await jose.calculateJwkThumbprint(pub, 'sha256'))
    .setAudience(s.aud)
    .setIssuedAt()
    .setExpirationTime(`${s.ttl}s`)
    .sign(key);
  signed.push(token);
}

process.stdout.write(JSON.stringify({ verified, signed }));
