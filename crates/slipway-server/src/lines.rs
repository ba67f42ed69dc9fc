//! The async twin of [`slipway_build::lines`]: an app's, a one-off command's or a build job's
//! output, line by line, each line at most [`MAX_LINE`] bytes (the rest of a longer one is read
//! and dropped), bytes that are not UTF-8 replaced rather than a reason to stop reading.

use slipway_build::lines::{cut, rest_of_line, MAX_LINE};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// Calls `each` with every line of `reader` until the end, an error, or `each` says stop.
pub async fn for_each(reader: impl AsyncRead + Unpin, mut each: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = if line.last() == Some(&b'\n') {
            line.pop();
            String::from_utf8_lossy(&line).into_owned()
        } else if line.len() <= MAX_LINE {
            String::from_utf8_lossy(&line).into_owned()
        } else {
            let rest = skip_line(&mut reader).await;
            cut(&line[..MAX_LINE], line.len() + rest)
        };
        if !each(text) {
            return;
        }
    }
}

/// Reads up to the next newline (consumed too), keeping nothing; the bytes skipped.
async fn skip_line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> usize {
    let mut skipped = 0;
    loop {
        let Ok(buffer) = reader.fill_buf().await else { return skipped };
        let (consume, ended) = rest_of_line(buffer);
        reader.consume(consume);
        skipped += consume - usize::from(ended);
        if ended || consume == 0 {
            return skipped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_without_end_costs_one_line_of_memory() {
        let mut input = std::iter::repeat_n(b'y', 5 * MAX_LINE).collect::<Vec<u8>>();
        input.extend(b"\nnext\n");
        let mut seen = Vec::new();
        for_each(input.as_slice(), |line| {
            seen.push(line);
            true
        })
        .await;
        assert_eq!(seen.len(), 2);
        assert!(seen[0].len() < MAX_LINE + 100, "{}", seen[0].len());
        assert_eq!(seen[1], "next");
    }
}
