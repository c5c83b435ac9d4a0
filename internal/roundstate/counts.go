package roundstate

// Results of a round, as its state file records them.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Counts are rounds by result since the state file was made.
type Counts struct {
	OK      uint64 `json:"ok"`
	Failed  uint64 `json:"failed"`
	Skipped uint64 `json:"skipped"`
}

// Add counts one round that ended with result; an unknown result is not
// counted. Pure.
func (c Counts) Add(result string) Counts {
	switch result {
	case ResultOK:
		c.OK++
	case ResultFailed:
		c.Failed++
	case ResultSkipped:
		c.Skipped++
	}
	return c
}
