package sealer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeyFileName is the name of the master key file in the data directory.
const KeyFileName = "master.key"

// LoadOrCreate builds a Sealer from the operator's master key when masterKey (the value of
// HOOKD_MASTER_KEY, standard base64 of KeySize bytes) is not empty; the key file is then neither read
// nor created. Otherwise it uses the key file KeyFileName in dataDir, and creates it with a random
// key, mode 0600, if it does not exist yet. A key file that group or others may access is refused:
// whoever reads it can read every secret in the log.
//
// Several processes may start at once on a fresh data directory (serve and a license command): they
// all end up with the same key, because the file appears atomically and only once.
func LoadOrCreate(dataDir, masterKey string) (*Sealer, error) {
	if masterKey != "" {
		raw, err := decodeKey(masterKey)
		if err != nil {
			return nil, fmt.Errorf("sealer: master key: %w", err)
		}
		return New(raw)
	}
	if dataDir == "" {
		return nil, errors.New("sealer: neither a master key nor a data directory for the key file")
	}
	path := filepath.Join(dataDir, KeyFileName)
	raw, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = createKeyFile(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return New(raw)
}

func decodeKey(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("want standard base64 of %d bytes: %v", KeySize, err)
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("want base64 of %d bytes, got %d bytes", KeySize, len(raw))
	}
	return raw, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		// Keep fs.ErrNotExist visible: it means "create the file".
		return nil, fmt.Errorf("sealer: key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the file checked is the file read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sealer: key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("sealer: key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits to check; its ACLs are the operator's business.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("sealer: key file %s has mode %#o, so others than its owner may read it; refusing to use it (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("sealer: key file %s: %w", path, err)
	}
	raw, err := decodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("sealer: key file %s: %w", path, err)
	}
	return raw, nil
}

// createKeyFile writes a new random key to a temporary file and links it into place: the link fails
// if another process made the file first, and then that process's key is the one to use. The file
// is never seen half written.
func createKeyFile(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sealer: data directory: %w", err)
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("sealer: new key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+KeyFileName+"-*") // CreateTemp makes files with mode 0600.
	if err != nil {
		return nil, fmt.Errorf("sealer: key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sealer: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("sealer: key file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sealer: key file: %w", err)
	}
	return raw, nil
}

// syncDir makes the new directory entry durable: a key lost in a crash would make every secret
// sealed with it unreadable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // Directories cannot be opened for syncing there.
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
