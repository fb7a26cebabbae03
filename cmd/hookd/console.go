package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/adapters/console"
	"github.com/hookd/hookd/application/command"
)

// consoleKeyFile holds the key that signs the console's one-time sign-in links, when no master
// key is configured.
const consoleKeyFile = "console.key"

// consoleLinkKey returns the key that signs one-time sign-in links: derived from HOOKD_MASTER_KEY
// when it is set, so that every node of a cluster accepts a link any of them can make; otherwise
// read from console.key in the data directory, which the first of serve and `hookd console` to
// need it creates (mode 0600).
func consoleLinkKey(cfg config) ([]byte, error) {
	if cfg.MasterKey != "" {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cfg.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("HOOKD_MASTER_KEY: %w", err)
		}
		m := hmac.New(sha256.New, raw)
		m.Write([]byte("hookd console sign-in links"))
		return m.Sum(nil), nil
	}
	path := filepath.Join(cfg.DataDir, consoleKeyFile)
	key, err := readConsoleKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		fresh := make([]byte, 32)
		_, _ = rand.Read(fresh)
		// Written aside and linked into place: of two processes creating it at once, one link
		// wins and both read the winner's key.
		tmp := path + fmt.Sprintf(".%d.tmp", os.Getpid())
		if err := writeKeyFile(tmp, base64.StdEncoding.EncodeToString(fresh)); err != nil {
			return nil, err
		}
		linkErr := os.Link(tmp, path)
		_ = os.Remove(tmp)
		if linkErr != nil && !errors.Is(linkErr, fs.ErrExist) {
			return nil, linkErr
		}
		key, err = readConsoleKey(path)
	}
	return key, err
}

func readConsoleKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %#o, so others than its owner may read it; refusing to use it (chmod 600 %s)", path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s does not hold base64 of 32 bytes", path)
	}
	return key, nil
}

// consoleURL is where the console is served: under HOOKD_PUBLIC_URL when it is set, else on
// HOOKD_ADDR.
func consoleURL(cfg config) string {
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	if base == "" {
		base = "http://" + cfg.Addr
	}
	return base + console.Prefix + "/"
}

func newConsoleCommand(c *cli) *cobra.Command {
	var licenseKey string
	cmd := &cobra.Command{
		Use:   "console [--license KEY]",
		Short: "Print the console's URL, or a one-time sign-in link",
		Long: `Print the URL of the operator's console (HOOKD_PUBLIC_URL, else http://HOOKD_ADDR, then /console/).

With --license, print a sign-in link for that license instead: it works once, within a minute. It is
signed with a key derived from HOOKD_MASTER_KEY, or else kept in the data directory (console.key), so
run it with the configuration of the node that serves the console.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			link := consoleURL(cfg)
			if licenseKey != "" {
				key, err := consoleLinkKey(cfg)
				if err != nil {
					return err
				}
				token, err := console.SignInToken(key, command.KeyHash(strings.TrimSpace(licenseKey)), time.Now())
				if err != nil {
					return err
				}
				link += "link?token=" + url.QueryEscape(token)
			}
			_, err = fmt.Fprintln(c.stdout, link)
			return err
		},
	}
	cmd.Flags().StringVar(&licenseKey, "license", "", "make a one-time sign-in link for this license key (valid for "+console.LinkTTL.String()+")")
	return cmd
}
