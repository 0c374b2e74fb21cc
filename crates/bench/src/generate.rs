//! Deterministic test repositories: a seed and a [`Shape`] become a `git fast-import` stream, so
//! the same arguments give the same commit ids on any machine.
//!
//! The main branch changes a few text files per commit (lines replaced and inserted), adds,
//! renames (across directories) and deletes files now and then; topic branches add files of
//! their own and are merged back with two-parent merges (the last few stay open); annotated
//! tags mark every so many commits. The large-blob shape adds a few incompressible files of
//! tens to hundreds of MiB, streamed to fast-import without holding them in memory.

use std::io::{self, Write};

/// How a generated repository looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Commits on the main branch (topic commits and merges come on top).
    pub commits: u32,
    pub initial_files: u32,
    /// Top-level directories (each with four subdirectories).
    pub dirs: u32,
    /// New text per main commit, bytes (about; spread over 1 to 3 files).
    pub new_bytes_per_commit: u32,
    /// Files stop growing at this many lines: older lines are then dropped.
    pub max_lines: u32,
    pub add_file_every: u32,
    pub rename_every: u32,
    pub delete_every: u32,
    /// A topic branch starts every this many main commits; it is merged half as many later.
    pub topic_every: u32,
    pub topic_commits: u32,
    /// The last topics are left unmerged (extra branches to push).
    pub open_topics: u32,
    pub tag_every: u32,
    /// Incompressible files added in the first commits, MiB each.
    pub big_files_mib: Vec<u32>,
}

impl Shape {
    /// The preset named `small`, `medium` or `large`.
    pub fn preset(name: &str) -> Option<Shape> {
        let text = Shape {
            commits: 1000,
            initial_files: 200,
            dirs: 8,
            new_bytes_per_commit: 1500,
            max_lines: 300,
            add_file_every: 20,
            rename_every: 25,
            delete_every: 70,
            topic_every: 100,
            topic_commits: 8,
            open_topics: 2,
            tag_every: 100,
            big_files_mib: Vec::new(),
        };
        match name {
            "small" => Some(text),
            "medium" => Some(Shape {
                commits: 48_000,
                initial_files: 2000,
                dirs: 40,
                new_bytes_per_commit: 2500,
                max_lines: 400,
                add_file_every: 20,
                rename_every: 30,
                delete_every: 90,
                topic_every: 1000,
                topic_commits: 20,
                open_topics: 3,
                tag_every: 1000,
                ..text
            }),
            "large" => Some(Shape {
                commits: 12,
                initial_files: 30,
                dirs: 2,
                topic_every: 0,
                open_topics: 0,
                tag_every: 6,
                big_files_mib: vec![60, 150, 300],
                ..text
            }),
            _ => None,
        }
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5357_4946_5447_4954)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn every(&mut self, n: u32) -> bool {
        n > 0 && self.below(n as u64) == 0
    }
}

/// Random text that compresses about as well as source code.
pub struct TextMaker {
    rng: Rng,
    words: Vec<String>,
}

impl TextMaker {
    pub fn new(rng: Rng) -> TextMaker {
        let mut rng = rng;
        let words = (0..2048)
            .map(|_| {
                let len = 2 + rng.below(8) as usize;
                (0..len)
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect()
            })
            .collect();
        TextMaker { rng, words }
    }

    pub fn line(&mut self) -> String {
        let indent = 4 * self.rng.below(3) as usize;
        let mut line = " ".repeat(indent);
        let tokens = 3 + self.rng.below(8);
        for i in 0..tokens {
            if i > 0 {
                line.push_str([" ", " ", ", ", " = ", "."][self.rng.below(5) as usize]);
            }
            match self.rng.below(6) {
                0 => line.push_str(&format!("0x{:08x}", self.rng.next_u64() as u32)),
                1 => line.push_str(&self.rng.below(100_000).to_string()),
                _ => {
                    let word = self.rng.below(self.words.len() as u64) as usize;
                    line.push_str(&self.words[word]);
                }
            }
        }
        line.push(';');
        line
    }

    pub fn lines(&mut self, bytes: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut size = 0;
        while size < bytes as usize {
            let line = self.line();
            size += line.len() + 1;
            out.push(line);
        }
        out
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

struct File {
    path: String,
    lines: Vec<String>,
}

fn content(lines: &[String]) -> Vec<u8> {
    let mut bytes = lines.join("\n").into_bytes();
    bytes.push(b'\n');
    bytes
}

/// One commit's tree changes, in fast-import's terms.
enum Change {
    Modify(String, Vec<u8>),
    Big { path: String, bytes: u64, seed: u64 },
    Rename(String, String),
    Delete(String),
}

/// Writes a fast-import stream of a repository of `shape` (branch `main`) to `out`. Returns
/// the number of commits.
pub fn write_stream(shape: &Shape, seed: u64, out: &mut impl Write) -> io::Result<u64> {
    let mut g = Generator {
        text: TextMaker::new(Rng::new(seed)),
        out,
        shape,
        files: Vec::new(),
        next_file: 0,
        mark: 0,
        commits: 0,
    };
    g.run()?;
    writeln!(g.out, "done")?;
    Ok(g.commits)
}

struct Generator<'a, W> {
    text: TextMaker,
    out: &'a mut W,
    shape: &'a Shape,
    files: Vec<File>,
    next_file: u32,
    mark: u32,
    commits: u64,
}

const EXTENSIONS: [&str; 5] = ["rs", "c", "h", "md", "txt"];
const DIRS: [&str; 10] = [
    "core", "net", "store", "ui", "tools", "docs", "lib", "io", "api", "test",
];

impl<W: Write> Generator<'_, W> {
    fn new_path(&mut self, dir: Option<&str>) -> String {
        self.next_file += 1;
        let ext = EXTENSIONS[self.next_file as usize % EXTENSIONS.len()];
        let dir = match dir {
            Some(dir) => dir.to_owned(),
            None => {
                let top = self.text.rng().below(self.shape.dirs.max(1) as u64) as usize;
                let sub = self.text.rng().below(4);
                format!("{}{}/part{sub}", DIRS[top % DIRS.len()], top / DIRS.len())
            }
        };
        format!("{dir}/f{:06}.{ext}", self.next_file)
    }

    fn new_file(&mut self, dir: Option<&str>) -> File {
        let path = self.new_path(dir);
        let bytes = 500 + self.text.rng().below(3000) as u32;
        File {
            path,
            lines: self.text.lines(bytes),
        }
    }

    /// Replaces and inserts about `bytes` of new text; drops old lines past `max_lines`.
    fn edit(&mut self, index: usize, bytes: u32) -> Change {
        let new = self.text.lines(bytes);
        let max_lines = self.shape.max_lines as usize;
        let rng = &mut self.text.rng;
        let file = &mut self.files[index];
        for line in new {
            let at = rng.below(file.lines.len() as u64 + 1) as usize;
            if rng.below(3) == 0 && at < file.lines.len() {
                file.lines[at] = line;
            } else {
                file.lines.insert(at, line);
            }
        }
        while file.lines.len() > max_lines {
            let at = rng.below(file.lines.len() as u64) as usize;
            file.lines.remove(at);
        }
        Change::Modify(file.path.clone(), content(&file.lines))
    }

    fn commit(
        &mut self,
        branch: &str,
        from: Option<u32>,
        merge: Option<u32>,
        message: &str,
        changes: &[Change],
    ) -> io::Result<u32> {
        self.mark += 1;
        self.commits += 1;
        let when = 1_600_000_000 + u64::from(self.mark) * 613;
        let out = &mut *self.out;
        writeln!(out, "commit refs/heads/{branch}\nmark :{}", self.mark)?;
        writeln!(out, "author Ada Bench <ada@bench.invalid> {when} +0000")?;
        writeln!(out, "committer Ada Bench <ada@bench.invalid> {when} +0000")?;
        writeln!(out, "data {}\n{message}", message.len())?;
        if let Some(from) = from {
            writeln!(out, "from :{from}")?;
        }
        if let Some(merge) = merge {
            writeln!(out, "merge :{merge}")?;
        }
        for change in changes {
            match change {
                Change::Modify(path, data) => {
                    writeln!(out, "M 100644 inline {path}\ndata {}", data.len())?;
                    out.write_all(data)?;
                    writeln!(out)?;
                }
                Change::Big { path, bytes, seed } => {
                    writeln!(out, "M 100644 inline {path}\ndata {bytes}")?;
                    write_random(out, *bytes, *seed)?;
                    writeln!(out)?;
                }
                Change::Rename(from, to) => writeln!(out, "R {from} {to}")?,
                Change::Delete(path) => writeln!(out, "D {path}")?,
            }
        }
        writeln!(out)?;
        Ok(self.mark)
    }

    fn tag(&mut self, name: &str, target: u32) -> io::Result<()> {
        let when = 1_600_000_000 + u64::from(target) * 613 + 60;
        let message = format!("Release {name}\n");
        writeln!(self.out, "tag {name}\nfrom :{target}")?;
        writeln!(
            self.out,
            "tagger Ada Bench <ada@bench.invalid> {when} +0000"
        )?;
        writeln!(self.out, "data {}\n{message}", message.len())
    }

    fn run(&mut self) -> io::Result<()> {
        let shape = self.shape.clone();
        let mut first = Vec::new();
        for _ in 0..shape.initial_files {
            let file = self.new_file(None);
            first.push(Change::Modify(file.path.clone(), content(&file.lines)));
            self.files.push(file);
        }
        self.commit("main", None, None, "Initial import\n", &first)?;
        // Topics to merge: at which main commit, and the topic.
        let mut pending: Vec<(u32, Topic)> = Vec::new();
        let mut topics = 0;
        let total_topics = (shape.commits - 1)
            .checked_div(shape.topic_every)
            .unwrap_or(0);
        for number in 1..shape.commits {
            let mut changes = Vec::new();
            if let Some(mib) = shape.big_files_mib.get(number as usize - 1) {
                let path = format!("assets/blob-{number}.bin");
                let seed = self.text.rng().next_u64();
                let bytes = u64::from(*mib) << 20;
                changes.push(Change::Big { path, bytes, seed });
            }
            let touched = 1 + self.text.rng().below(3) as u32;
            for _ in 0..touched.min(self.files.len() as u32) {
                let index = self.text.rng().below(self.files.len() as u64) as usize;
                changes.push(self.edit(index, shape.new_bytes_per_commit / touched));
            }
            if self.text.rng.every(shape.add_file_every) {
                let file = self.new_file(None);
                changes.push(Change::Modify(file.path.clone(), content(&file.lines)));
                self.files.push(file);
            }
            let changed: Vec<String> = changes.iter().filter_map(changed_path).collect();
            if self.text.rng.every(shape.rename_every) {
                let index = self.text.rng().below(self.files.len() as u64) as usize;
                if !changed.contains(&self.files[index].path) {
                    let to = self.new_path(None);
                    let from = std::mem::replace(&mut self.files[index].path, to.clone());
                    changes.push(Change::Rename(from, to));
                }
            } else if self.text.rng.every(shape.delete_every) && self.files.len() > 10 {
                let index = self.text.rng().below(self.files.len() as u64) as usize;
                if !changed.contains(&self.files[index].path) {
                    changes.push(Change::Delete(self.files.swap_remove(index).path));
                }
            }
            let mut merge = None;
            if let Some(at) = pending.iter().position(|(when, _)| *when == number) {
                let (_, topic) = pending.remove(at);
                for file in &topic.files {
                    changes.push(Change::Modify(file.path.clone(), content(&file.lines)));
                }
                self.files.extend(topic.files);
                merge = Some((topic.branch, topic.tip));
            }
            let message = match &merge {
                Some((branch, _)) => format!("Merge branch '{branch}'\n"),
                None => format!("Change {number}: {}\n", self.text.line().trim()),
            };
            let merge_mark = merge.map(|(_, tip)| tip);
            let tip = self.commit("main", None, merge_mark, &message, &changes)?;
            if shape.tag_every > 0 && number % shape.tag_every == 0 {
                self.tag(&format!("v{}.{}", number / 10_000, number % 10_000), tip)?;
            }
            if shape.topic_every > 0 && number % shape.topic_every == 0 {
                topics += 1;
                let topic = self.topic(topics, tip)?;
                if topics + shape.open_topics <= total_topics {
                    pending.push((number + shape.topic_every / 2, topic));
                }
            }
        }
        Ok(())
    }

    /// A topic branch off `base` that only touches files of its own directory.
    fn topic(&mut self, number: u32, base: u32) -> io::Result<Topic> {
        let branch = format!("topic-{number}");
        let dir = format!("topics/t{number}");
        let saved = std::mem::take(&mut self.files);
        let (mut from, mut tip) = (Some(base), base);
        for step in 0..self.shape.topic_commits {
            let mut changes = Vec::new();
            if step % 3 == 0 || self.files.is_empty() {
                let file = self.new_file(Some(&dir));
                changes.push(Change::Modify(file.path.clone(), content(&file.lines)));
                self.files.push(file);
            } else {
                let index = self.text.rng().below(self.files.len() as u64) as usize;
                changes.push(self.edit(index, self.shape.new_bytes_per_commit));
            }
            let message = format!("{branch}: step {step}\n");
            tip = self.commit(&branch, from.take(), None, &message, &changes)?;
        }
        let files = std::mem::replace(&mut self.files, saved);
        Ok(Topic { branch, tip, files })
    }
}

/// A topic branch as it is at its tip.
struct Topic {
    branch: String,
    tip: u32,
    files: Vec<File>,
}

fn changed_path(change: &Change) -> Option<String> {
    match change {
        Change::Modify(path, _) | Change::Big { path, .. } => Some(path.clone()),
        _ => None,
    }
}

/// `bytes` incompressible bytes from `seed`, written in 1 MiB pieces.
fn write_random(out: &mut impl Write, bytes: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut buffer = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buffer.len() as u64) as usize;
        for chunk in buffer[..n].chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Shape {
        Shape {
            commits: 30,
            initial_files: 5,
            topic_every: 10,
            topic_commits: 3,
            open_topics: 1,
            tag_every: 10,
            ..Shape::preset("small").expect("preset")
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        write_stream(&tiny(), 7, &mut a).expect("a");
        write_stream(&tiny(), 7, &mut b).expect("b");
        write_stream(&tiny(), 8, &mut c).expect("c");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_stream_has_topics_merges_and_tags() {
        let mut stream = Vec::new();
        let commits = write_stream(&tiny(), 1, &mut stream).expect("stream");
        let text = String::from_utf8_lossy(&stream);
        // 30 main commits + 2 topics of 3 commits (the third topic would start at 30).
        assert_eq!(commits, 36);
        assert_eq!(text.matches("\nmerge :").count(), 1, "one merged, one open");
        assert_eq!(text.matches("\ntag v").count(), 2);
        assert!(text.ends_with("done\n"));
    }
}
