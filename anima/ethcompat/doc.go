// Package ethcompat is a test-only module that checks anima's wallet
// address derivation and EIP-712 / EIP-3009 signatures against go-ethereum,
// so that anima itself never depends on go-ethereum.
package ethcompat
