// Package haima is Life-Go's finance subsystem: wallets, machine payments
// over x402 (client, resource-server middleware, local facilitator), payment
// policy with limits that hold under concurrent requests, and billing. Every
// payment is journaled as an intent (finance.payment_intended) before it is
// attempted, so a crash or a retry never pays twice.
//
// This first cut holds the money type the rest is built on: amounts are
// integer micro-credits, never floats.
package haima
