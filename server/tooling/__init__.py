"""Developer tooling that is not gallery code: the embedded Redis launcher."""
