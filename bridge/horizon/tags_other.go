//go:build !unix

package horizon

// allocTags returns n zero bytes for a table's tags.
func allocTags(n int) []byte { return make([]byte, n) }

// freeTags releases tags from allocTags.
func freeTags([]byte) {}
