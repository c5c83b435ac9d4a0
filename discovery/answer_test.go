package discovery

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestPreparedAnswersMatchTheZone checks that every prepared answer is what
// the zone's records give when computed per query, and that its length is
// the packed response's.
func TestPreparedAnswersMatchTheZone(t *testing.T) {
	z, err := ParseZone(bytes.NewReader(labZone(t)), testDomain, "lab.zone")
	if err != nil {
		t.Fatal(err)
	}
	computed := *z
	computed.answers = nil // rrset filters the nodes again
	for k, p := range z.answers {
		want := computed.rrset(k.name, k.qtype)
		if !slices.Equal(p.answer, want) {
			t.Errorf("%s %s: prepared %v, want %v", k.name, dns.Type(k.qtype), p.answer, want)
		}
		if extra := additional(&computed, want); !slices.Equal(p.extra, extra) {
			t.Errorf("%s %s: prepared additional %v, want %v", k.name, dns.Type(k.qtype), p.extra, extra)
		}
		req := new(dns.Msg).SetQuestion(k.name, k.qtype)
		resp, wireLen := answer(z, req)
		packed, err := resp.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if wireLen != len(packed) {
			t.Errorf("%s %s: prepared length %d, packed %d", k.name, dns.Type(k.qtype), wireLen, len(packed))
		}
	}
	if len(z.answers) == 0 {
		t.Fatal("no prepared answers")
	}
}

// TestPreparedAnswersAreNotModifiedByResponses checks that adding EDNS0 to
// responses built from one prepared answer leaves it unchanged.
func TestPreparedAnswersAreNotModifiedByResponses(t *testing.T) {
	z, err := ParseZone(bytes.NewReader(labZone(t)), testDomain, "lab.zone")
	if err != nil {
		t.Fatal(err)
	}
	name := SRVName(ServerService, testDomain)
	p := z.answers[answerKey{name, dns.TypeSRV}]
	before := slices.Clone(p.extra)
	for range 2 {
		req := new(dns.Msg).SetQuestion(name, dns.TypeSRV)
		req.SetEdns0(4096, false)
		resp, _ := answer(z, req)
		resp.SetEdns0(advertisedUDPSize, false)
	}
	if !slices.Equal(p.extra, before) {
		t.Errorf("prepared additional section changed: %v, was %v", p.extra, before)
	}
}

// TestAnswerMeasuresMixedCaseQuestions checks that a question in another
// case than the owner gets no prepared length (compression may differ) but
// the same records.
func TestAnswerMeasuresMixedCaseQuestions(t *testing.T) {
	z, err := ParseZone(bytes.NewReader(labZone(t)), testDomain, "lab.zone")
	if err != nil {
		t.Fatal(err)
	}
	name := SRVName(ServerService, testDomain)
	resp, wireLen := answer(z, new(dns.Msg).SetQuestion(strings.ToUpper(name), dns.TypeSRV))
	if wireLen != 0 || len(resp.Answer) != 3 || !resp.Authoritative {
		t.Errorf("prepared length %d, %d answers, AA=%v; want 0, 3, true", wireLen, len(resp.Answer), resp.Authoritative)
	}
}
