//! Reading a child's output line by line with a bound: a line longer than [`MAX_LINE`] is cut
//! there (the rest of it is read and dropped, never held), so a process that prints 30 MB without
//! a newline costs 64 KiB of memory, not 30 MB. Bytes that are not UTF-8 are replaced, not a
//! reason to stop reading (which would leave the child blocked on a full pipe).

use std::io::{BufRead, BufReader, Read};

/// The longest line kept whole.
pub const MAX_LINE: usize = 64 * 1024;

/// The line to show for `head` (the first bytes) of a line `total` bytes long: short enough,
/// with its note and an indentation, to pass another reader's bound whole (a build job's lines
/// are read again by the server).
pub fn cut(head: &[u8], total: usize) -> String {
    let head = &head[..head.len().min(MAX_LINE - 128)];
    format!("{} … [slipway: line cut, {total} bytes]", String::from_utf8_lossy(head))
}

/// Calls `each` with every line of `reader` (without its newline), until the end or an error.
pub fn for_each(reader: impl Read, mut each: impl FnMut(&str)) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            each(&String::from_utf8_lossy(&line));
        } else if line.len() <= MAX_LINE {
            return each(&String::from_utf8_lossy(&line)); // the last line, with no newline
        } else {
            let rest = skip_line(&mut reader);
            each(&cut(&line[..MAX_LINE], line.len() + rest));
        }
    }
}

/// Reads up to the next newline (consumed too), keeping nothing; the bytes skipped.
fn skip_line(reader: &mut impl BufRead) -> usize {
    let mut skipped = 0;
    loop {
        let Ok(buffer) = reader.fill_buf() else { return skipped };
        let (consume, ended) = rest_of_line(buffer);
        reader.consume(consume);
        skipped += consume - usize::from(ended);
        if ended || consume == 0 {
            return skipped;
        }
    }
}

/// For a buffer read in the middle of a line being skipped: how many bytes to consume, and
/// whether the line ended in them (its newline is consumed too). An empty buffer is the end.
pub fn rest_of_line(buffer: &[u8]) -> (usize, bool) {
    match buffer.iter().position(|b| *b == b'\n') {
        Some(end) => (end + 1, true),
        None => (buffer.len(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_bad_bytes_replaced() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        input.extend(b"\nbad \xff byte\nlast");
        let mut seen = Vec::new();
        for_each(input.as_slice(), |line| seen.push(line.to_string()));
        assert_eq!(seen.len(), 4, "{:?}", seen.iter().map(|l| l.len()).collect::<Vec<_>>());
        assert_eq!(seen[0], "first");
        assert!(
            seen[1].len() < MAX_LINE + 100
                && seen[1].ends_with(&format!("[slipway: line cut, {} bytes]", 3 * MAX_LINE))
        );
        assert_eq!((seen[2].as_str(), seen[3].as_str()), ("bad \u{fffd} byte", "last"));
    }
}
