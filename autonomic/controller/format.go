package controller

import (
	"math"
	"strconv"
)

func isInf(v float64) bool { return math.IsInf(v, 0) }

// formatValue writes a signal value for a reason: four decimals, "inf".
func formatValue(v float64) string {
	if math.IsInf(v, 1) {
		return "inf"
	}
	return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64)
}
