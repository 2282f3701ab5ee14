//! Column alignment as Go's `text/tabwriter` does it, which is what kubectl's tables and `describe` output go
//! through: cells end at `\t`, the text after a line's last tab is not aligned, a column block is a run of
//! consecutive lines that have a cell in that column, and a line without any tab ends all blocks.

/// The settings of one writer (Go's `minwidth` and `padding`; the pad character is always a space).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub min_width: usize,
    pub padding: usize,
    /// Keep columns at least as wide as in earlier flushes (the `RememberWidths` of kubectl's tab writer).
    pub remember_widths: bool,
}

/// `kubectl get` tables (`printers.GetNewTabWriter`).
pub const TABLE: Settings = Settings { min_width: 6, padding: 3, remember_widths: true };
/// `kubectl describe` (`tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`).
pub const DESCRIBE: Settings = Settings { min_width: 0, padding: 2, remember_widths: false };

/// Aligns `text`. `remembered` carries column widths across calls (kubectl's watch output keeps its columns at
/// least as wide as those already printed); pass an empty vector otherwise.
pub fn align(text: &str, settings: Settings, remembered: &mut Vec<usize>) -> String {
    let lines: Vec<Vec<&str>> =
        text.split_inclusive('\n').map(|l| l.trim_end_matches('\n').split('\t').collect()).collect();
    let ends_with_newline: Vec<bool> = text.split_inclusive('\n').map(|l| l.ends_with('\n')).collect();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut start = 0;
    for i in 0..lines.len() {
        // Go flushes after a line of one cell: no column block reaches across it.
        if lines[i].len() == 1 || i + 1 == lines.len() {
            let mut w = Writer {
                lines: &lines[start..=i],
                newline: &ends_with_newline[start..=i],
                settings,
                remembered,
                widths: Vec::new(),
                out: &mut out,
            };
            w.format(0, i + 1 - start);
            start = i + 1;
        }
    }
    out
}

struct Writer<'a, 'b> {
    lines: &'a [Vec<&'b str>],
    newline: &'a [bool],
    settings: Settings,
    remembered: &'a mut Vec<usize>,
    widths: Vec<usize>,
    out: &'a mut String,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Writer<'_, '_> {
    fn format(&mut self, line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut line0 = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            // A block of lines with a cell in `column` starts here.
            self.write_lines(line0, this);
            line0 = this;
            let mut w = self.settings.min_width;
            while this < line1 && column + 1 < self.lines[this].len() {
                w = w.max(width(self.lines[this][column]) + self.settings.padding);
                this += 1;
            }
            if self.settings.remember_widths {
                if let Some(r) = self.remembered.get_mut(column) {
                    w = w.max(*r);
                    *r = w;
                } else if self.remembered.len() == column {
                    self.remembered.push(w);
                }
            }
            self.widths.push(w);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(w) = self.widths.get(j) {
                    for _ in width(cell)..*w {
                        self.out.push(' ');
                    }
                }
            }
            if self.newline[i] {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, s: Settings) -> String {
        align(text, s, &mut Vec::new())
    }

    #[test]
    fn tables_as_kubectl_get() {
        let text = "NAME\tSTATUS\tAGE\npi\tRunning\t5s\nlonger-name\tComplete\t10m\n";
        assert_eq!(
            run(text, TABLE),
            "NAME          STATUS     AGE\npi            Running    5s\nlonger-name   Complete   10m\n"
        );
        // min width 6 even for short cells
        assert_eq!(run("A\tB\nx\ty\n", TABLE), "A     B\nx     y\n");
    }

    #[test]
    fn describe_blocks_end_at_lines_without_tabs() {
        let text = "Name:\tpi\nNamespace:\tdefault\nPod Template:\n  Labels:\tx=y\n  Containers:\n   pi:\n    Image:\tperl\n    Port:\t<none>\n";
        assert_eq!(
            run(text, DESCRIBE),
            "Name:       pi\nNamespace:  default\nPod Template:\n  Labels:  x=y\n  Containers:\n   pi:\n    Image:  perl\n    Port:   <none>\n"
        );
    }

    #[test]
    fn continuation_lines_share_the_column() {
        let text = "Labels:\ta=b\n\tc=d\nAnnotations:\t<none>\n";
        assert_eq!(run(text, DESCRIBE), "Labels:       a=b\n              c=d\nAnnotations:  <none>\n");
    }

    #[test]
    fn nested_columns_are_blocks_of_their_own() {
        // Column 1 exists only on the first two lines; the third line's single tab ends that block.
        let text = "a\tb\tc\naa\tbbbb\tc\naaa\tx\n";
        assert_eq!(run(text, DESCRIBE), "a    b     c\naa   bbbb  c\naaa  x\n");
    }

    #[test]
    fn remembered_widths_keep_watch_rows_aligned() {
        let mut mem = Vec::new();
        let first = align("NAME\tAGE\npi\t1s\n", TABLE, &mut mem);
        assert_eq!(first, "NAME   AGE\npi     1s\n");
        assert_eq!(align("p\t2s\n", TABLE, &mut mem), "p      2s\n");
        assert_eq!(align("a-much-longer-name\t3s\n", TABLE, &mut mem), "a-much-longer-name   3s\n");
    }

    #[test]
    fn text_without_final_newline() {
        assert_eq!(run("a\tb", DESCRIBE), "a  b");
        assert_eq!(run("", DESCRIBE), "");
    }
}
