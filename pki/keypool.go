package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/etcdboot/etcdboot/spec"
)

// KeyPool generates the private keys a run is about to need ahead of use,
// on every core, so that a Dir issuing certificates one after another (in
// a fixed, deterministic order) waits for at most one key at a time instead
// of generating each in turn. Keys are interchangeable, so which key a
// certificate gets is the only thing the scheduling decides. A nil *KeyPool
// generates nothing ahead: keys are made when they are needed.
type KeyPool struct {
	key    KeySpec
	keys   chan pooledKey
	cancel context.CancelFunc

	mu   sync.Mutex
	left int // keys not yet taken
}

type pooledKey struct {
	key    crypto.Signer
	keyPEM []byte
	err    error
}

// NewKeyPool starts generating n keys of the given spec on up to GOMAXPROCS
// goroutines. Close it when done: keys not yet started are then not made.
func NewKeyPool(key KeySpec, n int) *KeyPool {
	key = key.orDefault()
	ctx, cancel := context.WithCancel(context.Background())
	p := &KeyPool{key: key, keys: make(chan pooledKey, n), cancel: cancel, left: n}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	for range min(n, runtime.GOMAXPROCS(0)) {
		go func() {
			for range work {
				if ctx.Err() != nil {
					return
				}
				k, pemBytes, err := generateKey(key)
				p.keys <- pooledKey{k, pemBytes, err} // buffered for all n
			}
		}()
	}
	return p
}

// Close stops generating keys nobody took.
func (p *KeyPool) Close() {
	if p != nil {
		p.cancel()
	}
}

// take returns a pooled key of spec key, waiting for one being generated;
// ok is false when the pool has none of that spec left.
func (p *KeyPool) take(key KeySpec) (k crypto.Signer, keyPEM []byte, ok bool, err error) {
	if p == nil || key.orDefault() != p.key {
		return nil, nil, false, nil
	}
	p.mu.Lock()
	if p.left == 0 {
		p.mu.Unlock()
		return nil, nil, false, nil
	}
	p.left--
	p.mu.Unlock()
	pk := <-p.keys
	return pk.key, pk.keyPEM, true, pk.err
}

// generateKey makes a private key as cfssl's csr.ParseRequest does (the
// same generators) and encodes it as it does: PKCS#1 for RSA, SEC 1 for
// ECDSA.
func generateKey(key KeySpec) (crypto.Signer, []byte, error) {
	if err := key.Validate(); err != nil {
		return nil, nil, err
	}
	switch key.Algorithm {
	case spec.KeyRSA:
		k, err := rsa.GenerateKey(rand.Reader, key.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("generate %s key: %w", key, err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	default:
		curve := map[int]elliptic.Curve{256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}[key.Size]
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("generate %s key: %w", key, err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s key: %w", key, err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
}

// NewKeysNeeded counts the names (as EnsureCert, EnsureCA and
// EnsureIntermediate take them) that will get a new key: all with rotate,
// else those whose certificate or key file is missing. A key whose type
// changes gets one too, made when needed; this count is for a KeyPool.
func (d Dir) NewKeysNeeded(rotate bool, names ...string) int {
	if rotate {
		return len(names)
	}
	n := 0
	for _, name := range names {
		if !fileExists(d.CertPath(name)) || !fileExists(d.KeyPath(name)) {
			n++
		}
	}
	return n
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
