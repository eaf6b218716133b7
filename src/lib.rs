//! examples and tests
