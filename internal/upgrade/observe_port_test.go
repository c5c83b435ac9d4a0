package upgrade

import (
	"net"
	"testing"
)

func TestPortAnswersTellsALiveListenerFromAClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	live := "https://" + l.Addr().String()
	if !portAnswers(live) {
		t.Errorf("portAnswers(%s) = false for a listening port", live)
	}
	l.Close()
	if portAnswers(live) {
		t.Errorf("portAnswers(%s) = true once the port is closed", live)
	}
	if !portAnswers("%%not a url") {
		t.Error("an unparsable URL must be left to Status to report")
	}
}
