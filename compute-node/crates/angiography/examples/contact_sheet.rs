//! Writes docs/contact-sheet.png (one row per view class, 6 samples each, 128×128) and
//! docs/data-card.md. Run: `cargo run --release -p more-angiography --example contact_sheet`.
use more_angiography::{data_card, generate_with, write_contact_sheet, GeneratorConfig, Task};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs)?;
    let cfg = GeneratorConfig::default();
    let seed = 2020;
    let ds = generate_with(&cfg, 9 * 6, 128, Task::View, seed, None)?;
    write_contact_sheet(&ds, 6, &docs.join("contact-sheet.png"))?;
    std::fs::write(docs.join("data-card.md"), data_card(&ds, &cfg, seed))?;
    println!("wrote {}", docs.display());
    Ok(())
}
