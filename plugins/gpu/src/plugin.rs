//! Bevy glue (filled in below).
