package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// Storage keys of the internal CA. Every instance that shares the storage
// shares the root, so a fleet's internal certificates chain to one root.
const (
	internalRootCertKey = "tether/ca/root.crt"
	internalRootKeyKey  = "tether/ca/root.key"
	internalCALock      = "tether_internal_ca"
)

// Lifetimes of the internal CA's certificates. certmagic renews a leaf when a
// third of its life is left, so a 7-day leaf is renewed after about 4.7
// days; the root outlives any deployment that does not rotate it on purpose.
const (
	internalLeafLifetime = 7 * 24 * time.Hour
	internalRootLifetime = 10 * 365 * 24 * time.Hour
)

// internalCA is Tether's own small certificate authority for `tls internal`
// (localhost, IP sites, private names). certmagic has no such issuer; this
// one implements certmagic.Issuer so certmagic stores, serves and renews
// its certificates like ACME ones. The root key and certificate live in the
// configured storage, created once under a storage lock.
type internalCA struct {
	storage certmagic.Storage

	// mu guards the loaded root.
	mu   sync.Mutex
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

var _ certmagic.Issuer = (*internalCA)(nil)

// IssuerKey names the issuer in certmagic's storage paths.
func (ca *internalCA) IssuerKey() string { return "tether-internal" }

// Issue signs a leaf for the names in csr with the root.
func (ca *internalCA) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	root, key, err := ca.root(ctx)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("internal ca: csr signature: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(internalLeafLifetime)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: firstName(csr)},
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
		NotBefore:    now.Add(-time.Minute), // small clock skew between instances
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("internal ca: sign %s: %w", tmpl.Subject.CommonName, err)
	}
	return &certmagic.IssuedCertificate{Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func firstName(csr *x509.CertificateRequest) string {
	if len(csr.DNSNames) > 0 {
		return csr.DNSNames[0]
	}
	if len(csr.IPAddresses) > 0 {
		return csr.IPAddresses[0].String()
	}
	return csr.Subject.CommonName
}

// RootPEM returns the root certificate in PEM, creating the root if the
// storage has none yet.
func (ca *internalCA) RootPEM(ctx context.Context) ([]byte, error) {
	if _, _, err := ca.root(ctx); err != nil {
		return nil, err
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.pem, nil
}

// root loads the root from storage, or creates and stores it. The storage
// lock makes instances sharing the storage agree on one root.
func (ca *internalCA) root(ctx context.Context) (*x509.Certificate, crypto.Signer, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.cert != nil {
		return ca.cert, ca.key, nil
	}
	cert, key, certPEM, err := ca.loadRoot(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		if err := ca.storage.Lock(ctx, internalCALock); err != nil {
			return nil, nil, fmt.Errorf("internal ca: lock: %w", err)
		}
		defer ca.storage.Unlock(context.WithoutCancel(ctx), internalCALock)
		cert, key, certPEM, err = ca.loadRoot(ctx) // another instance may have won
		if errors.Is(err, fs.ErrNotExist) {
			cert, key, certPEM, err = ca.createRoot(ctx)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	ca.cert, ca.key, ca.pem = cert, key, certPEM
	return cert, key, nil
}

func (ca *internalCA) loadRoot(ctx context.Context) (*x509.Certificate, crypto.Signer, []byte, error) {
	certPEM, err := ca.storage.Load(ctx, internalRootCertKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err := ca.storage.Load(ctx, internalRootKeyKey)
	if err != nil {
		return nil, nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, nil, errors.New("internal ca: stored root is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("internal ca: stored root: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("internal ca: stored root key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, nil, errors.New("internal ca: stored root key cannot sign")
	}
	return cert, signer, certPEM, nil
}

func (ca *internalCA) createRoot(ctx context.Context) (*x509.Certificate, crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("Tether Local CA %x", serial.Bytes()[:4]), Organization: []string{"Tether"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(internalRootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	// The key first: a root certificate without its key would be useless
	// to the next instance, a key without a certificate is recreated.
	if err := ca.storage.Store(ctx, internalRootKeyKey, keyPEM); err != nil {
		return nil, nil, nil, fmt.Errorf("internal ca: store root key: %w", err)
	}
	if err := ca.storage.Store(ctx, internalRootCertKey, certPEM); err != nil {
		return nil, nil, nil, fmt.Errorf("internal ca: store root: %w", err)
	}
	return cert, key, certPEM, nil
}
