// Package lago is the persistence layer of Life-Go: the append-only event
// journal on bbolt (package journal), the Blake3 content-addressed blob store
// (blob), the session filesystem projected from file events (fsys), RBAC and
// quotas (policy), the knowledge index (knowledge), the SSE stream encoders
// (sse), and the lagod daemon and lago CLI built on them.
package lago
