package render

import (
	"fmt"
	"math"
)

// Bytes formats n in SI units the way etcdctl and etcdutl do (go-humanize's
// Bytes): "512 B", "20 kB", "2.1 MB".
func Bytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	format := "%.0f %s"
	if val < 10 {
		format = "%.1f %s"
	}
	return fmt.Sprintf(format, val, units[int(e)])
}
