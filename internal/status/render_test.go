package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleReport is a three-member cluster with one member down and one
// reporting an alarm.
func sampleReport() Report {
	return Report{
		Endpoints: []EndpointStatus{
			{
				Endpoint: "https://192.168.2.51:2379", Healthy: true, Took: 4812345 * time.Nanosecond,
				ID: "8e9e05c52164694d", Name: "etcd1", Version: "3.6.16", StorageVersion: "3.6.0", DBSize: 20480, DBSizeInUse: 16384,
				IsLeader: true, RaftTerm: 2, RaftIndex: 1234, RaftAppliedIndex: 1234,
			},
			{
				Endpoint: "https://192.168.2.52:2379", Healthy: false, Took: 5 * time.Second,
				Error: "status: no answer within 5s: dial tcp 192.168.2.52:2379: connect: connection refused",
			},
			{
				Endpoint: "https://192.168.2.53:2379", Healthy: false, Took: 12 * time.Millisecond,
				Error: "active alarms: NOSPACE on member 2a1b", ID: "2a1b", Name: "etcd3", Version: "3.6.16", StorageVersion: "3.6.0",
				DBSize: 2_147_483_648, DBSizeInUse: 2_000_000_000, RaftTerm: 2, RaftIndex: 1234, RaftAppliedIndex: 1230,
				Errors: []string{"memberID:2a1b alarm:NOSPACE"},
			},
		},
		Members: []Member{
			{ID: "8e9e05c52164694d", Name: "etcd1", PeerURLs: []string{"https://192.168.2.51:2380"}, ClientURLs: []string{"https://192.168.2.51:2379"}},
			{ID: "91bc3c398fb3c146", Name: "etcd2", PeerURLs: []string{"https://192.168.2.52:2380"}, ClientURLs: []string{"https://192.168.2.52:2379"}},
			{ID: "2a1b", Name: "etcd3", PeerURLs: []string{"https://192.168.2.53:2380"}, ClientURLs: []string{"https://192.168.2.53:2379"}, IsLearner: true},
		},
		ClusterVersion: "3.6.0",
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./status -run %s -update", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./status -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestWriteTableDrawsAlignedBoxWithEveryColumn(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())

	table, clusterLine, _ := strings.Cut(b.String(), "cluster version ")
	if clusterLine != "3.6.0\n" {
		t.Errorf("under the table %q, want the cluster version 3.6.0", clusterLine)
	}
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != 3+3+1 { // rule, header, rule, 3 rows, rule
		t.Fatalf("%d lines, want 7:\n%s", len(lines), b.String())
	}
	// Aligned: every line is as wide as the rule and has its column
	// separators exactly where the rule has its corners.
	corners := separators(lines[0], '+')
	for i, line := range lines {
		if utf8.RuneCountInString(line) != utf8.RuneCountInString(lines[0]) {
			t.Errorf("line %d is %d wide, the rule %d:\n%s", i, utf8.RuneCountInString(line), utf8.RuneCountInString(lines[0]), b.String())
		}
		sep := byte('|')
		if strings.HasPrefix(line, "+") {
			sep = '+'
		}
		if got := separators(line, sep); !reflect.DeepEqual(got, corners) {
			t.Errorf("line %d has separators at %v, the rule at %v:\n%s", i, got, corners, b.String())
		}
	}
	// Every column, and in each row the values etcdctl would show; the
	// endpoint that never answered has empty status cells, not zeroes.
	want := [][]string{
		{"ENDPOINT", "HEALTH", "TOOK", "ID", "NAME", "VERSION", "STORAGE", "DB SIZE", "LEADER", "LEARNER", "RAFT TERM", "RAFT INDEX", "ERROR"},
		{"https://192.168.2.51:2379", "true", "4.812ms", "8e9e05c52164694d", "etcd1", "3.6.16", "3.6.0", "20 kB", "true", "false", "2", "1234", ""},
		{"https://192.168.2.52:2379", "false", "5s", "", "", "", "", "", "", "", "", "", "status: no answer within 5s: dial tcp 192.168.2.52:2379: connect: connection refused"},
		{"https://192.168.2.53:2379", "false", "12ms", "2a1b", "etcd3", "3.6.16", "3.6.0", "2.1 GB", "false", "false", "2", "1234", "active alarms: NOSPACE on member 2a1b; memberID:2a1b alarm:NOSPACE"},
	}
	for i, line := range []string{lines[1], lines[3], lines[4], lines[5]} {
		if got := cells(line); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %q has cells\n%q, want\n%q", line, got, want[i])
		}
	}
}

// cells returns the trimmed cells of a table line.
func cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// separators returns the byte offsets of sep in line, outside cell text:
// cells here hold no '|' or '+'.
func separators(line string, sep byte) []int {
	var at []int
	for i := 0; i < len(line); i++ {
		if line[i] == sep {
			at = append(at, i)
		}
	}
	return at
}

func TestWriteJSONRoundTrips(t *testing.T) {
	want := sampleReport()
	var b bytes.Buffer
	if err := WriteJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", b.Bytes())
	var got Report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the report:\ngot  %+v\nwant %+v", got, want)
	}
	for _, key := range []string{`"dbSizeInUse": 16384`, `"isLeader": true`, `"raftAppliedIndex": 1230`, `"took": 4812345`, `"peerURLs": [`, `"isLearner": true`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b.String())
		}
	}
}

func TestWriteJSONWritesEmptyListsNotNull(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, Report{}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(strings.Fields(b.String()), ""), `{"endpoints":[],"members":[]}`; got != want {
		t.Errorf("empty report = %s, want %s", got, want)
	}
}

func TestReportHealthyNeedsEveryEndpoint(t *testing.T) {
	ok := EndpointStatus{Endpoint: "a", Healthy: true}
	bad := EndpointStatus{Endpoint: "b", Error: "down"}
	tests := []struct {
		name string
		r    Report
		want bool
	}{
		{"no endpoints", Report{}, false},
		{"all healthy", Report{Endpoints: []EndpointStatus{ok, ok}}, true},
		{"one down", Report{Endpoints: []EndpointStatus{ok, bad}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Healthy(); got != tt.want {
			t.Errorf("%s: Healthy() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
