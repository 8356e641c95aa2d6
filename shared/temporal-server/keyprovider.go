package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// fileTokenKey verifies ES256 tokens with one P-256 public key read from a PEM file at start; the
// key id is ignored because there is only one key (rotating it is a restart with a new file).
type fileTokenKey struct{ key *ecdsa.PublicKey }

func loadTokenKey(path string) (*fileTokenKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an ECDSA public key", path)
	}
	return &fileTokenKey{key: key}, nil
}

func (k *fileTokenKey) EcdsaKey(alg string, _ string) (*ecdsa.PublicKey, error) {
	if alg != "ES256" {
		return nil, fmt.Errorf("token algorithm %q is not accepted", alg)
	}
	return k.key, nil
}

func (k *fileTokenKey) HmacKey(alg string, _ string) ([]byte, error) {
	return nil, fmt.Errorf("token algorithm %q is not accepted", alg)
}

func (k *fileTokenKey) RsaKey(alg string, _ string) (*rsa.PublicKey, error) {
	return nil, fmt.Errorf("token algorithm %q is not accepted", alg)
}

func (k *fileTokenKey) SupportedMethods() []string { return []string{"ES256"} }

func (k *fileTokenKey) Close() {}
