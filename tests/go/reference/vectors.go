package main

// The contract's formulas, computed here in Go from their definitions and
// compared with the vectors of tests/vectors, which Cairn's core checks too
// (tests/core/test_vectors.py):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run ./tests/go/reference vectors tests/vectors
//
// entries.json: DSSE v1 PAE, entry_hash = SHA-256(PAE), keyid = SHA-256(raw
// public key), each signature under crypto/ed25519, the leaf input as Go's
// encoding/json writes {"envelope", "integrated_time"} (map keys sorted, no
// spaces), its tlog.RecordHash. merkle.json: tlog.TreeHash of the leaves.
// strict_json.json: the contract's strict JSON, checked by walking
// encoding/json's tokens.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type entryVector struct {
	Name           string   `json:"name"`
	PayloadType    string   `json:"payload_type"`
	Payload        string   `json:"payload"`
	PAE            string   `json:"pae"`
	EntryHash      string   `json:"entry_hash"`
	PublicKeys     []string `json:"public_keys"`
	Keyids         []string `json:"keyids"`
	Envelope       string   `json:"envelope"`
	IntegratedTime int64    `json:"integrated_time"`
	LeafInput      string   `json:"leaf_input"`
	LeafHash       string   `json:"leaf_hash"`
}

type merkleVectors struct {
	Leaves []string `json:"leaves"`
	Roots  []struct {
		Size int64  `json:"size"`
		Root string `json:"root"`
	} `json:"roots"`
}

type strictVector struct {
	Why    string `json:"why"`
	Text   string `json:"text"`
	Strict bool   `json:"strict"`
}

const (
	maxDepth        = 32
	maxNumberLength = 40
)

func readVectors(dir, name string, into interface{}) error {
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

func runVectors(c *checker, dir string) {
	var entries struct{ Cases []entryVector }
	if err := readVectors(dir, "entries.json", &entries); err != nil {
		c.report(err, "vectors", "entries.json")
	}
	for _, v := range entries.Cases {
		c.report(checkEntryVector(v), "vector-entry", "%s", v.Name)
	}
	var m merkleVectors
	if err := readVectors(dir, "merkle.json", &m); err != nil {
		c.report(err, "vectors", "merkle.json")
	}
	checkMerkleVectors(c, m)
	var strict struct{ Cases []strictVector }
	if err := readVectors(dir, "strict_json.json", &strict); err != nil {
		c.report(err, "vectors", "strict_json.json")
	}
	for _, v := range strict.Cases {
		err := strictJSON([]byte(v.Text))
		switch {
		case v.Strict && err != nil:
			err = fmt.Errorf("refused, the vector takes it: %v", err)
		case !v.Strict && err == nil:
			err = fmt.Errorf("taken, the vector refuses it")
		default:
			err = nil
		}
		c.report(err, "vector-strict", "%s", v.Why)
	}
}

func pae(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload))
}

func hexSHA256(data []byte) string {
	digest := sha256.Sum256(data)
	return hex.EncodeToString(digest[:])
}

func checkEntryVector(v entryVector) error {
	payload, err := base64.StdEncoding.DecodeString(v.Payload)
	if err != nil {
		return err
	}
	message := pae(v.PayloadType, payload)
	if hex.EncodeToString(message) != v.PAE {
		return fmt.Errorf("PAE %x", message)
	}
	if hexSHA256(message) != v.EntryHash {
		return fmt.Errorf("entry_hash %s", hexSHA256(message))
	}
	var envelope struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			Keyid string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(v.Envelope), &envelope); err != nil {
		return err
	}
	if envelope.PayloadType != v.PayloadType || envelope.Payload != v.Payload {
		return fmt.Errorf("the envelope is not of this payload")
	}
	if len(envelope.Signatures) != len(v.PublicKeys) || len(v.Keyids) != len(v.PublicKeys) {
		return fmt.Errorf("one public key and keyid a signature")
	}
	for i, encoded := range v.PublicKeys {
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return fmt.Errorf("public key %d", i)
		}
		if hexSHA256(key) != v.Keyids[i] || envelope.Signatures[i].Keyid != v.Keyids[i] {
			return fmt.Errorf("keyid %d is not SHA-256 of its key", i)
		}
		sig, err := base64.StdEncoding.DecodeString(envelope.Signatures[i].Sig)
		if err != nil || !ed25519.Verify(ed25519.PublicKey(key), message, sig) {
			return fmt.Errorf("signature %d does not verify over the PAE", i)
		}
	}
	var generic interface{}
	if err := json.Unmarshal([]byte(v.Envelope), &generic); err != nil {
		return err
	}
	stored, err := compactJSON(generic)
	if err != nil {
		return err
	}
	if stored != v.Envelope {
		return fmt.Errorf("the stored envelope is not sorted, compact JSON: %s", stored)
	}
	leafInput, err := compactJSON(map[string]interface{}{
		"envelope":        generic,
		"integrated_time": json.Number(strconv.FormatInt(v.IntegratedTime, 10)),
	})
	if err != nil {
		return err
	}
	if leafInput != v.LeafInput {
		return fmt.Errorf("leaf input %s", leafInput)
	}
	record := tlog.RecordHash([]byte(leafInput))
	if hex.EncodeToString(record[:]) != v.LeafHash {
		return fmt.Errorf("leaf hash %x", record)
	}
	return nil
}

// compactJSON is encoding/json's output (maps with sorted keys) without
// HTML escaping or the trailing newline.
func compactJSON(value interface{}) (string, error) {
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return "", err
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}

func checkMerkleVectors(c *checker, m merkleVectors) {
	log := &memoryLog{}
	for i, leaf := range m.Leaves {
		data, err := hex.DecodeString(leaf)
		if err == nil {
			err = log.append(int64(i), data)
		}
		if err != nil {
			c.report(err, "vector-root", "leaf %d", i)
			return
		}
	}
	for _, want := range m.Roots {
		var got string
		var err error
		if want.Size == 0 {
			got = hexSHA256(nil) // RFC 9162: the empty tree's hash; tlog has none
		} else {
			var root tlog.Hash
			root, err = tlog.TreeHash(want.Size, log)
			got = hex.EncodeToString(root[:])
		}
		if err == nil && got != want.Root {
			err = fmt.Errorf("root %s", got)
		}
		c.report(err, "vector-root", "of the first %d leaves", want.Size)
	}
}

// strictJSON refuses what the contract's strict JSON refuses: invalid JSON
// (NaN and Infinity included), a key twice in an object, a number of more
// than 40 characters, nesting deeper than 32, NUL or a lone surrogate in a
// string or key.
func strictJSON(text []byte) error {
	if !json.Valid(text) {
		return fmt.Errorf("not JSON")
	}
	if err := loneSurrogate(text); err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.UseNumber()
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		token, err := decoder.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.keys != nil && top.expectKey
		switch t := token.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack)+1 > maxDepth {
					return fmt.Errorf("nested deeper than %d", maxDepth)
				}
				if top != nil && top.keys != nil {
					top.expectKey = true
				}
				f := &frame{}
				if t == '{' {
					f.keys, f.expectKey = map[string]bool{}, true
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if strings.ContainsRune(t, 0) {
				return fmt.Errorf("NUL in a string")
			}
			if isKey {
				if top.keys[t] {
					return fmt.Errorf("duplicate key %q", t)
				}
				top.keys[t] = true
				top.expectKey = false
				continue
			}
		case json.Number:
			if len(t) > maxNumberLength {
				return fmt.Errorf("a number of %d characters", len(t))
			}
		}
		if top != nil && top.keys != nil {
			top.expectKey = true
		}
	}
}

// loneSurrogate finds a \u escape of a surrogate that is not a high one
// followed at once by the escape of a low one (encoding/json would decode
// it to U+FFFD without a word).
func loneSurrogate(text []byte) error {
	inString := false
	for i := 0; i < len(text); i++ {
		switch {
		case !inString:
			inString = text[i] == '"'
		case text[i] == '"':
			inString = false
		case text[i] == '\\' && text[i+1] == 'u':
			code, _ := strconv.ParseUint(string(text[i+2:i+6]), 16, 32)
			switch {
			case code >= 0xd800 && code < 0xdc00:
				next := uint64(0)
				if i+12 <= len(text) && text[i+6] == '\\' && text[i+7] == 'u' {
					next, _ = strconv.ParseUint(string(text[i+8:i+12]), 16, 32)
				}
				if next < 0xdc00 || next > 0xdfff {
					return fmt.Errorf("a lone surrogate")
				}
				i += 11
			case code >= 0xdc00 && code <= 0xdfff:
				return fmt.Errorf("a lone surrogate")
			default:
				i += 5
			}
		case text[i] == '\\':
			i++
		}
	}
	return nil
}
