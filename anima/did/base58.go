package did

import (
	"errors"
	"math/big"
)

// Hand-written: base58btc is a few lines and the DID keys are short, so a
// dependency is not worth it.

const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var b58Index = func() (idx [256]int8) {
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(b58Alphabet); i++ {
		idx[b58Alphabet[i]] = int8(i)
	}
	return idx
}()

var big58 = big.NewInt(58)

// encodeBase58 encodes b in base58btc (Bitcoin alphabet).
func encodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b)
	out := make([]byte, 0, len(b)*138/100+1)
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, big58, mod)
		out = append(out, b58Alphabet[mod.Int64()])
	}
	for range zeros {
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

var errBase58 = errors.New("invalid base58btc character")

// decodeBase58 decodes base58btc text; at most maxLen bytes of output are
// accepted so hostile input cannot make it do quadratic work.
func decodeBase58(s string, maxLen int) ([]byte, error) {
	if len(s) > maxLen*138/100+2 {
		return nil, errors.New("base58btc text too long")
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	n := new(big.Int)
	for i := zeros; i < len(s); i++ {
		d := b58Index[s[i]]
		if d < 0 {
			return nil, errBase58
		}
		n.Mul(n, big58)
		n.Add(n, big.NewInt(int64(d)))
	}
	body := n.Bytes()
	out := make([]byte, zeros+len(body))
	copy(out[zeros:], body)
	if len(out) > maxLen {
		return nil, errors.New("base58btc value too long")
	}
	return out, nil
}
