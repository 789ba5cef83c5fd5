"""One run: the launcher (launch, distributed), the worker's training loop (trainer) and its
parts (step, graphs, resident, batches, optim, checkpoint, meter, window)."""
