// Package anima is the identity subsystem of Life-Go: an agent's soul, its
// keys derived from one master seed, its did:key identifier and EIP-55 wallet
// address, the sealed seed at rest, custody backends that sign without
// letting keys out, agent JWTs and the one canonical verifier that every
// daemon uses, and the rotation and revocation chain kept in the journal.
//
// The packages:
//
//   - did: did:key encoding and resolution (P-256 and secp256k1), JWKs,
//     RFC 7638 thumbprints and DID documents.
//   - identity: seed generation and HKDF key derivation, wallet addresses.
//   - seal: the seed sealed at rest (Argon2id + ChaCha20-Poly1305).
//   - soul: the soul document and its Blake3 hash.
//   - jws: compact JWS signing and parsing for ES256 and ES256K.
//   - eip712: EIP-712 typed-data hashing (EIP-3009 TransferWithAuthorization).
//   - chain: rotation and revocation chains, a pure fold over journal events.
//   - token: agent JWT issuing and the canonical verifier (aios.TokenVerifier).
//   - custody: the Custody interface (embeds aios.Custody) and the
//     in-process backend; custodytest is the conformance suite for backends.
//   - oracle: the custody oracle daemon over a Unix socket (SO_PEERCRED) and
//     its client backend.
//   - backend: opens a custody backend by URL (home:///dir, oracle:///sock?agent=x).
//   - home: one identity kept in a directory (sealed seed + identity journal).
package anima
