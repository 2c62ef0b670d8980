//! `report.html` of an evaluation: its summary, the episode videos (with
//! their posters) and the figures, for a web browser.

use crate::offline::eval::EvalSummary;
use crate::offline::media::EpisodeVideo;

/// The page for an evaluation titled `title` (e.g. `cartpole/swingup`),
/// with `figures` (SVG files in the same folder).
pub fn report_html(
    title: &str,
    s: &EvalSummary,
    videos: &[EpisodeVideo],
    figures: &[&str],
) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html>\n<html><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>umwelt eval: {}</title>", esc(title)));
    h.push_str(
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}\
         figure{display:inline-block;margin:8px}video{max-width:100%}</style></head><body>\n",
    );
    h.push_str(&format!(
        "<h1>{}: {}</h1>\n<p>{} episodes: mean return {:.1} ({}), \
         success {:.0}%. Numbers: <a href=\"eval.json\">eval.json</a>, \
         <a href=\"episodes.csv\">episodes.csv</a>.</p>\n",
        esc(title),
        esc(&s.controller),
        s.episodes,
        s.avg_sum_reward,
        s.return_interval(),
        s.pc_success
    ));
    if !videos.is_empty() {
        h.push_str("<h2>Episodes</h2>\n");
    }
    for v in videos {
        h.push_str(&format!(
            "<figure><video controls loop muted playsinline width=\"{}\" height=\"{}\" \
             poster=\"{}\" src=\"{}\"></video><figcaption>{}: seed {}, return {:.1}</figcaption></figure>\n",
            v.width,
            v.height,
            esc(&v.poster),
            esc(&v.path),
            esc(&v.label),
            v.seed,
            v.sum_reward
        ));
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in figures {
        h.push_str(&format!(
            "<p><img src=\"{}\" alt=\"{}\"></p>\n",
            esc(f),
            esc(f)
        ));
    }
    h.push_str("</body></html>\n");
    h
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
