// Package infer runs linear layers from their deployed forms on the CPU:
// dense (float32 or bfloat16 storage), N:M-compressed (the kept values plus
// the position of each inside its group of M; 2 bits per kept value for
// 2:4) and ARMOR-factorised y = A·(S·(B·x)) with A and B block-diagonal and
// S a 2:4-compressed core. Each form is a model.Operator: Convert installs
// them in a model so its forward pass (perplexity, generation) runs on the
// compressed weights. The products run on internal/kernel's dot-product
// kernels, rows split across goroutines; results do not depend on the
// number of threads, and a compressed layer gives bitwise the result of its
// dense masked matrix through the dense operator. No file I/O here.
package infer
