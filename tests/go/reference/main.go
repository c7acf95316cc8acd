// Command reference checks what Cairn serves with Go's reference code for
// transparency logs (golang.org/x/mod/sumdb/note and sumdb/tlog), which
// Cairn did not write.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run ./tests/go/reference FIXTURE.json
//
// The fixture (written by tests/log/test_go_reference.py) holds what the log
// served: the checkpoint with witnesses' cosignature lines, the log's and
// the witnesses' vkeys, entry bundles and hash tiles (C2SP tlog-tiles), and
// inclusion and consistency proof bodies (GET /log/proof/*). From the
// entry bundles' leaf inputs alone this program rebuilds the tree with
// tlog.StoredHashes and checks every item against it and against the signed
// checkpoint. It prints one line per check, "ok <kind> ..." or
// "FAIL <kind> ...", and exits 1 if any check failed. With "vectors DIR" it
// checks the contract's formulas against tests/vectors instead (vectors.go).
//
// Go's tlog writes tile paths with the height ("tile/8/0/x001/234") and
// names the entries level "data"; C2SP tlog-tiles drops the height and says
// "entries". The paths are translated both ways and must round-trip.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

type servedFile struct {
	Path string `json:"path"`
	Data []byte `json:"data"` // base64 in the JSON
}

type inclusionProof struct {
	Index    int64    `json:"index"`
	TreeSize int64    `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"`
	Hashes   []string `json:"hashes"`
}

type consistencyProof struct {
	First  int64    `json:"first"`
	Second int64    `json:"second"`
	Hashes []string `json:"hashes"`
}

type fixture struct {
	LogVkey      string             `json:"log_vkey"`
	Checkpoint   string             `json:"checkpoint"`
	WitnessVkeys []string           `json:"witness_vkeys"`
	EntryBundles []servedFile       `json:"entry_bundles"`
	Tiles        []servedFile       `json:"tiles"`
	Inclusion    []inclusionProof   `json:"inclusion"`
	Consistency  []consistencyProof `json:"consistency"`
}

type checker struct{ failures int }

func (c *checker) report(err error, kind, format string, args ...interface{}) {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		c.failures++
		fmt.Printf("FAIL %s %s: %v\n", kind, what, err)
		return
	}
	fmt.Printf("ok %s %s\n", kind, what)
}

// memoryLog is the tree rebuilt from leaf inputs: tlog's stored hashes.
type memoryLog struct{ stored []tlog.Hash }

func (m *memoryLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.stored)) {
			return nil, fmt.Errorf("stored hash %d is not in the rebuilt tree", x)
		}
		out[i] = m.stored[x]
	}
	return out, nil
}

func (m *memoryLog) append(n int64, leafInput []byte) error {
	hashes, err := tlog.StoredHashes(n, leafInput, m)
	m.stored = append(m.stored, hashes...)
	return err
}

// servedTiles is a tlog.TileReader over the tiles in the fixture.
type servedTiles map[string][]byte

func (s servedTiles) Height() int { return tileHeight }

func (s servedTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, ok := s[c2spPath(t)]
		if !ok {
			return nil, fmt.Errorf("%s was not served", c2spPath(t))
		}
		out[i] = data
	}
	return out, nil
}

func (s servedTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// goPath turns "tile/0/000" into Go's "tile/8/0/000" ("entries" is "data").
func goPath(path string) string {
	rest := strings.TrimPrefix(path, "tile/")
	if strings.HasPrefix(rest, "entries/") {
		rest = "data/" + strings.TrimPrefix(rest, "entries/")
	}
	return fmt.Sprintf("tile/%d/%s", tileHeight, rest)
}

// c2spPath is the C2SP form of tlog.Tile.Path().
func c2spPath(t tlog.Tile) string {
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if strings.HasPrefix(rest, "data/") {
		rest = "entries/" + strings.TrimPrefix(rest, "data/")
	}
	return "tile/" + rest
}

func parseTile(path string) (tlog.Tile, error) {
	t, err := tlog.ParseTilePath(goPath(path))
	if err != nil {
		return t, err
	}
	if back := c2spPath(t); back != path {
		return t, fmt.Errorf("tlog formats it back as %s", back)
	}
	return t, nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "vectors" {
		c := &checker{}
		runVectors(c, os.Args[2])
		fmt.Printf("%d failure(s)\n", c.failures)
		if c.failures > 0 {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: reference FIXTURE.json | reference vectors DIR")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var f fixture
	if err := json.Unmarshal(raw, &f); err != nil {
		fmt.Fprintln(os.Stderr, "fixture:", err)
		os.Exit(2)
	}
	c := &checker{}
	run(c, &f)
	fmt.Printf("%d failure(s)\n", c.failures)
	if c.failures > 0 {
		os.Exit(1)
	}
}

func run(c *checker, f *fixture) {
	opened, tree, err := openCheckpoint(f)
	c.report(err, "checkpoint", "signed by the log (note.Open), size %d", tree.N)
	if err != nil {
		return
	}
	for _, vkey := range f.WitnessVkeys {
		name, ts, err := checkCosignature(opened, vkey)
		c.report(err, "cosignature", "%s at time %d", name, ts)
	}
	log, leafInputs := rebuild(c, f.EntryBundles)
	root, err := tlog.TreeHash(tree.N, log)
	if err == nil && (int64(len(leafInputs)) != tree.N || root != tree.Hash) {
		err = fmt.Errorf("%d leaf inputs hash to root %v, the checkpoint says %v", len(leafInputs), root, tree.Hash)
	}
	c.report(err, "root", "of the entry bundles' %d leaf inputs is the checkpoint's", len(leafInputs))
	if err != nil {
		return
	}
	checkTiles(c, f.Tiles, log)
	checkBundlesAgainstTiles(c, f.EntryBundles, f.Tiles)
	checkTileHashReader(c, tree, f.Tiles, log)
	for _, p := range f.Inclusion {
		c.report(checkInclusion(p, log), "inclusion", "of entry %d in the tree of %d", p.Index, p.TreeSize)
	}
	for _, p := range f.Consistency {
		c.report(checkConsistency(p, log), "consistency", "from %d to %d", p.First, p.Second)
	}
}

// openCheckpoint opens the note under the log's key only (the witnesses'
// lines are then unverified signatures) and parses its C2SP body.
func openCheckpoint(f *fixture) (*note.Note, tlog.Tree, error) {
	var tree tlog.Tree
	verifier, err := note.NewVerifier(f.LogVkey)
	if err != nil {
		return nil, tree, err
	}
	n, err := note.Open([]byte(f.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		return nil, tree, err
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != verifier.Name() {
		return nil, tree, fmt.Errorf("want exactly the log's signature, got %v", n.Sigs)
	}
	if first := "— " + verifier.Name() + " "; !strings.Contains(f.Checkpoint, "\n\n"+first) {
		return nil, tree, fmt.Errorf("the log's line is not the first signature line")
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] != verifier.Name() {
		return nil, tree, fmt.Errorf("the body is not <origin>, <size>, <root>: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, tree, fmt.Errorf("bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, tree, fmt.Errorf("bad root hash %q", lines[2])
	}
	tree.N = size
	copy(tree.Hash[:], root)
	return n, tree, nil
}

// checkCosignature verifies the witness's line by hand (C2SP
// tlog-cosignature): key ID = SHA-256(name || "\n" || 0x04 || key)[:4],
// line = key ID || 8-byte big-endian time || Ed25519 signature over
// "cosignature/v1\ntime <time>\n" || the checkpoint body.
func checkCosignature(n *note.Note, vkey string) (string, uint64, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return vkey, 0, fmt.Errorf("not a vkey")
	}
	name := parts[0]
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		return name, 0, fmt.Errorf("not a cosignature/v1 Ed25519 key")
	}
	digest := sha256.Sum256(append([]byte(name+"\n\x04"), key[1:]...))
	if hex.EncodeToString(digest[:4]) != parts[1] {
		return name, 0, fmt.Errorf("the vkey's key ID is not SHA-256(name, 0x0A, 0x04, key)[:4]")
	}
	for _, sig := range n.UnverifiedSigs {
		if sig.Name != name || sig.Hash != binary.BigEndian.Uint32(digest[:4]) {
			continue
		}
		line, err := base64.StdEncoding.DecodeString(sig.Base64)
		if err != nil || len(line) != 4+8+ed25519.SignatureSize {
			return name, 0, fmt.Errorf("a cosignature is 76 bytes")
		}
		ts := binary.BigEndian.Uint64(line[4:12])
		message := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, n.Text)
		if !ed25519.Verify(ed25519.PublicKey(key[1:]), []byte(message), line[12:]) {
			return name, ts, fmt.Errorf("the signature does not verify")
		}
		return name, ts, nil
	}
	return name, 0, fmt.Errorf("no line by this witness")
}

// rebuild splits the entry bundles, in index order, and appends their leaf
// inputs to a tree of tlog's stored hashes.
func rebuild(c *checker, bundles []servedFile) (*memoryLog, [][]byte) {
	sort.Slice(bundles, func(i, j int) bool { return bundles[i].Path < bundles[j].Path })
	log := &memoryLog{}
	var leafInputs [][]byte
	for _, b := range bundles {
		t, err := parseTile(b.Path)
		var entries [][]byte
		if err == nil {
			entries, err = splitBundle(b.Data)
		}
		if err == nil && (t.L != -1 || t.N<<tileHeight != int64(len(leafInputs)) || len(entries) != t.W) {
			err = fmt.Errorf("%d entries where tile %v starts at %d", len(entries), t, len(leafInputs))
		}
		for i := 0; err == nil && i < len(entries); i++ {
			err = log.append(int64(len(leafInputs)), entries[i])
			leafInputs = append(leafInputs, entries[i])
		}
		c.report(err, "bundle", "%s: %d leaf inputs, path round-trips through tlog.ParseTilePath", b.Path, len(entries))
	}
	return log, leafInputs
}

func splitBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("a length is cut off")
		}
		size := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+size {
			return nil, fmt.Errorf("an entry of %d bytes runs past the end", size)
		}
		entries = append(entries, data[2:2+size])
		data = data[2+size:]
	}
	return entries, nil
}

// checkTiles compares each served tile with tlog.ReadTileData over the tree
// rebuilt from the leaf inputs.
func checkTiles(c *checker, tiles []servedFile, log *memoryLog) {
	for _, served := range tiles {
		t, err := parseTile(served.Path)
		var want []byte
		if err == nil && t.L < 0 {
			err = fmt.Errorf("an entry bundle among the hash tiles")
		}
		if err == nil {
			want, err = tlog.ReadTileData(t, log)
		}
		if err == nil && !bytes.Equal(want, served.Data) {
			err = fmt.Errorf("served %d bytes differ from tlog.ReadTileData's %d", len(served.Data), len(want))
		}
		c.report(err, "tile", "%s equals tlog.ReadTileData (%d hashes)", served.Path, t.W)
	}
}

// checkBundlesAgainstTiles: each leaf input's tlog.RecordHash is the
// served level-0 tile's hash at its position.
func checkBundlesAgainstTiles(c *checker, bundles, tiles []servedFile) {
	levelZero := map[int64][]byte{}
	for _, served := range tiles {
		if t, err := parseTile(served.Path); err == nil && t.L == 0 && len(served.Data) > len(levelZero[t.N]) {
			levelZero[t.N] = served.Data
		}
	}
	for _, b := range bundles {
		t, err := parseTile(b.Path)
		var entries [][]byte
		if err == nil {
			entries, err = splitBundle(b.Data)
		}
		tile := levelZero[t.N]
		for i := 0; err == nil && i < len(entries); i++ {
			hash := tlog.RecordHash(entries[i])
			if len(tile) < (i+1)*tlog.HashSize || !bytes.Equal(hash[:], tile[i*tlog.HashSize:(i+1)*tlog.HashSize]) {
				err = fmt.Errorf("entry %d's record hash is not the level-0 tile's", t.N<<tileHeight+int64(i))
			}
		}
		c.report(err, "bundle-hashes", "%s: every leaf input's tlog.RecordHash is in tile/0", b.Path)
	}
}

// checkTileHashReader lets Go's tile client authenticate the served tiles
// against the signed tree hash and read every leaf hash through them.
func checkTileHashReader(c *checker, tree tlog.Tree, tiles []servedFile, log *memoryLog) {
	served := servedTiles{}
	for _, t := range tiles {
		served[t.Path] = t.Data
	}
	indexes := make([]int64, tree.N)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, int64(i))
	}
	got, err := tlog.TileHashReader(tree, served).ReadHashes(indexes)
	if err == nil {
		want, _ := log.ReadHashes(indexes)
		for i := range want {
			if got[i] != want[i] {
				err = fmt.Errorf("leaf %d read through the tiles differs", i)
				break
			}
		}
	}
	c.report(err, "tile-reader", "tlog.TileHashReader authenticates the tiles against the checkpoint, %d leaves", tree.N)
}

func parseHashes(hexes []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(hexes))
	for i, text := range hexes {
		raw, err := hex.DecodeString(text)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("bad hash %q", text)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func checkInclusion(p inclusionProof, log *memoryLog) error {
	proof, err := parseHashes(p.Hashes)
	if err != nil {
		return err
	}
	leaf, err := parseHashes([]string{p.LeafHash})
	if err != nil {
		return err
	}
	if p.Index < 0 || p.Index >= p.TreeSize {
		return fmt.Errorf("index outside the tree")
	}
	own, err := log.ReadHashes([]int64{tlog.StoredHashIndex(0, p.Index)})
	if err != nil || own[0] != leaf[0] {
		return fmt.Errorf("the served leaf hash is not the entry's record hash")
	}
	root, err := tlog.TreeHash(p.TreeSize, log)
	if err != nil {
		return err
	}
	return tlog.CheckRecord(proof, p.TreeSize, root, p.Index, leaf[0])
}

func checkConsistency(p consistencyProof, log *memoryLog) error {
	proof, err := parseHashes(p.Hashes)
	if err != nil {
		return err
	}
	first, err := tlog.TreeHash(p.First, log)
	if err != nil {
		return err
	}
	second, err := tlog.TreeHash(p.Second, log)
	if err != nil {
		return err
	}
	return tlog.CheckTree(proof, p.Second, second, p.First, first)
}
