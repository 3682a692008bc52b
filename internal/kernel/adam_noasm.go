//go:build !amd64 || purego

package kernel

// Adam applies one PyTorch-style Adam update (no weight decay) to x with
// gradient g and moments m, v, in the storage type: adamGo.
func Adam[T Float](x, g, m, v []T, c *AdamConsts[T]) {
	adamGo(x, g, m, v, c)
}

// AdamKeep is Adam where entries whose keep is false get zero gradient
// (their moments decay), and also writes the masked result x⊙keep to s:
// adamKeepGo.
func AdamKeep[T Float](x, g, m, v []T, keep []bool, s []T, c *AdamConsts[T]) {
	adamKeepGo(x, g, m, v, keep, s, c)
}
