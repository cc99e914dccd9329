//! The quick-start corpus: English -> German sentence pairs generated from a small bilingual
//! grammar, so that a first run of `nmt` needs no download and learns in minutes.
//!
//! The translations are real German, and learning them takes what real translation takes:
//! numbers 2..99 with units before tens ("twenty-one" -> "einundzwanzig"), articles and
//! adjective endings that agree with gender, number and case ("a young dog" -> "ein junger
//! Hund", "with the old men" -> "mit den alten Männern"), the verb second in main clauses
//! ("Today the man sees ..." -> "Heute sieht der Mann ..."), first in questions, and last in
//! clauses after weil / dass / wenn ("because the bird has seen fifty-five cars" -> "weil der
//! Vogel fünfundfünfzig Autos gesehen hat"). The vocabulary is small (24 nouns, 13 adjectives, 9 verbs)
//! and sentences have 4 to 14 words, so each construction occurs hundreds of times in train.
//!
//! Generation is deterministic in the seed. Sentences are unique across the whole corpus (on
//! both sides), so no test or validation sentence occurs in train.
//!
//! This crate only writes text: it shares the data crate's generator (so the corpus never
//! changes with a dependency update) and its error type, and nothing else.

mod grammar;
mod lexicon;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;

use grammar::{Clause, Determiner, NounPhrase, Predicate, Pronoun, Subject, Tense};
use lexicon::{ADJECTIVES, Kind, NOUNS, Noun, Objects, REPORTING_VERBS, VERBS};

use nmt_data::rng::{SplitMix64, mix64};
use nmt_data::{DataError, ParallelText};

/// The seed of the committed `data/quickstart` files.
pub const QUICKSTART_SEED: u64 = 2024;
pub const TRAIN_PAIRS: usize = 6000;
pub const VALID_PAIRS: usize = 300;
pub const TEST_PAIRS: usize = 300;
/// Sentences are kept when both sides have this many words (punctuation attached)...
pub const MIN_WORDS: usize = 4;
/// ...up to this many.
pub const MAX_WORDS: usize = 14;

/// The three splits of the quick-start corpus (source English, target German).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuickstartCorpus {
    pub train: ParallelText,
    pub valid: ParallelText,
    pub test: ParallelText,
}

/// Generates the corpus. The same seed always gives the same text.
pub fn generate_quickstart(seed: u64) -> QuickstartCorpus {
    let mut rng = SplitMix64::new(mix64(seed));
    let (mut seen_en, mut seen_de) = (HashSet::new(), HashSet::new());
    let mut pairs = Vec::new();
    while pairs.len() < TEST_PAIRS + VALID_PAIRS + TRAIN_PAIRS {
        let (en, de) = sentence(&mut rng);
        let fits = |s: &str| (MIN_WORDS..=MAX_WORDS).contains(&s.split(' ').count());
        if fits(&en) && fits(&de) && !seen_en.contains(&en) && !seen_de.contains(&de) {
            seen_en.insert(en.clone());
            seen_de.insert(de.clone());
            pairs.push((en, de));
        }
    }
    let mut rest = pairs.into_iter();
    let mut take = |n: usize| {
        let (src, tgt) = rest.by_ref().take(n).unzip();
        ParallelText { src, tgt }
    };
    let test = take(TEST_PAIRS);
    let valid = take(VALID_PAIRS);
    let train = take(TRAIN_PAIRS);
    QuickstartCorpus { train, valid, test }
}

/// Writes `dir/{train,valid,test}.{en,de}` (creating `dir`), one sentence a line.
pub fn write_quickstart(dir: &Path, seed: u64) -> Result<(), DataError> {
    std::fs::create_dir_all(dir).map_err(|reason| DataError::Write {
        path: dir.to_path_buf(),
        reason,
    })?;
    let corpus = generate_quickstart(seed);
    for (split, text) in [
        ("train", &corpus.train),
        ("valid", &corpus.valid),
        ("test", &corpus.test),
    ] {
        for (lang, lines) in [("en", &text.src), ("de", &text.tgt)] {
            let path = dir.join(format!("{split}.{lang}"));
            let mut body = lines.join("\n");
            body.push('\n');
            std::fs::write(&path, body).map_err(|reason| DataError::Write { path, reason })?;
        }
    }
    Ok(())
}

/// One random sentence pair (English, German), punctuated and capitalised.
fn sentence(rng: &mut SplitMix64) -> (String, String) {
    use Tense::*;
    let (mut en, mut de, end) = match rng.below(100) {
        // Statement: "The dog has found the ball." / "Der Hund hat den Ball gefunden."
        0..30 => {
            let c = clause(rng, &[Present, Present, Perfect, Past, Can, Want], 15);
            (c.english(), c.german().main(), ".")
        }
        // Fronted adverb, verb second: "Heute sieht der Mann ...".
        30..40 => {
            let (adverb_en, adverb_de, c) = match rng.below(3) {
                0 => ("yesterday", "gestern", clause(rng, &[Past], 0)),
                1 => ("today", "heute", clause(rng, &[Present, Can, Want], 15)),
                _ => ("now", "jetzt", clause(rng, &[Present, Can, Want], 25)),
            };
            let mut en = vec![adverb_en.to_string()];
            en.extend(c.english());
            let mut de = vec![adverb_de.to_string()];
            de.extend(c.german().inverted());
            (en, de, ".")
        }
        // Question, verb first: "Hat der Hund den Ball gefunden?".
        40..52 => {
            let c = clause(rng, &[Present, Present, Perfect, Past, Can, Want], 15);
            (c.english_question(), c.german().inverted(), "?")
        }
        // Because, verb last: "..., weil der Hund zwei rote Autos gesehen hat.".
        52..70 => {
            let main = clause(rng, &[Present, Perfect, Past, Can, Want], 35);
            let sub = clause(rng, &[Present, Perfect, Past, Can, Want], 20);
            let mut en = main.english();
            en.push("because".to_string());
            en.extend(sub.english());
            let mut de = main.german().main();
            attach(&mut de, ",");
            de.push("weil".to_string());
            de.extend(sub.german().subordinate());
            (en, de, ".")
        }
        // Reported: "Ich weiß, dass der Hund hungrig ist.".
        70..88 => {
            let subject = subject_for(rng, &[Kind::Person]);
            let [en_verb, en_3sg, de_1sg, de_3sg, de_pl] = *rng.pick(REPORTING_VERBS);
            let sub = clause(rng, &[Present, Perfect, Past, Can, Want], 20);
            let agreement = subject.agreement();
            let mut en = subject.english();
            en.push(
                if agreement == grammar::Agreement::ThirdSingular {
                    en_3sg
                } else {
                    en_verb
                }
                .to_string(),
            );
            en.push("that".to_string());
            en.extend(sub.english());
            let mut de = subject.german();
            de.push(
                match agreement {
                    grammar::Agreement::FirstSingular => de_1sg,
                    grammar::Agreement::ThirdSingular => de_3sg,
                    grammar::Agreement::Plural => de_pl,
                }
                .to_string(),
            );
            attach(&mut de, ",");
            de.push("dass".to_string());
            de.extend(sub.german().subordinate());
            (en, de, ".")
        }
        // Fronted condition, then verb first: "Wenn der Hund hungrig ist, kauft der Mann ...".
        _ => {
            let sub = clause(rng, &[Present, Perfect], 40);
            let main = clause(rng, &[Present, Can, Want], 25);
            let mut en = vec!["if".to_string()];
            en.extend(sub.english());
            attach(&mut en, ",");
            en.extend(main.english());
            let mut de = vec!["wenn".to_string()];
            de.extend(sub.german().subordinate());
            attach(&mut de, ",");
            de.extend(main.german().inverted());
            (en, de, ".")
        }
    };
    attach(&mut en, end);
    attach(&mut de, end);
    (capitalised(&en), capitalised(&de))
}

/// Appends punctuation to the last word.
fn attach(words: &mut [String], punctuation: &str) {
    if let Some(last) = words.last_mut() {
        last.push_str(punctuation);
    }
}

fn capitalised(words: &[String]) -> String {
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// A clause in one of `tenses`, or (with `copula_percent` chance) "X is ADJ".
fn clause(rng: &mut SplitMix64, tenses: &[Tense], copula_percent: u64) -> Clause {
    if rng.percent(copula_percent) {
        let subject = subject_for(rng, &[Kind::Person, Kind::Animal, Kind::Thing]);
        let (kind, own_adj) = match &subject {
            Subject::Pronoun(_) => (Kind::Person, None),
            Subject::Phrase(np) => (np.noun.kind, np.adj.map(|a| a.en)),
        };
        let candidates: Vec<_> = ADJECTIVES
            .iter()
            .filter(|a| a.kinds.contains(&kind) && !own_adj.is_some_and(|own| clash(own, a.en)))
            .collect();
        let adj = *rng.pick(&candidates);
        return Clause {
            subject,
            predicate: Predicate::Copula(adj),
        };
    }
    let tense = *rng.pick(tenses);
    let verbs: Vec<_> = VERBS
        .iter()
        .filter(|v| v.modal || !matches!(tense, Tense::Can | Tense::Want))
        .collect();
    let verb = *rng.pick(&verbs);
    let subject = subject_for(rng, verb.subjects);
    let subject_noun = match &subject {
        Subject::Phrase(np) => Some(np.noun.en),
        Subject::Pronoun(_) => None,
    };
    let objects: Vec<&Noun> = NOUNS
        .iter()
        .filter(|n| Some(n.en) != subject_noun)
        .filter(|n| match verb.objects {
            Objects::Any => true,
            Objects::NotPersons => n.kind != Kind::Person,
            Objects::Things => n.kind == Kind::Thing,
            Objects::Only(list) => list.contains(&n.en),
        })
        .collect();
    let object = noun_phrase(rng, &objects);
    let with = if rng.percent(25) {
        let others: Vec<&Noun> = NOUNS
            .iter()
            .filter(|n| n.en != object.noun.en && Some(n.en) != subject_noun)
            .collect();
        Some(noun_phrase(rng, &others))
    } else {
        None
    };
    Clause {
        subject,
        predicate: Predicate::Action {
            verb,
            tense,
            object,
            with,
        },
    }
}

/// Two adjectives that should not describe the same thing ("the white horse is black").
fn clash(a: &str, b: &str) -> bool {
    const COLOURS: [&str; 5] = ["red", "blue", "green", "black", "white"];
    const OPPOSITES: [[&str; 2]; 3] = [["young", "old"], ["new", "old"], ["big", "small"]];
    a == b
        || (COLOURS.contains(&a) && COLOURS.contains(&b))
        || OPPOSITES.iter().any(|p| p.contains(&a) && p.contains(&b))
}

/// A pronoun (a quarter of the time, when persons are allowed) or a noun phrase of one of
/// the given kinds.
fn subject_for(rng: &mut SplitMix64, kinds: &[Kind]) -> Subject {
    if kinds.contains(&Kind::Person) && rng.percent(25) {
        let pronoun = *rng.pick(&[
            Pronoun::I,
            Pronoun::He,
            Pronoun::She,
            Pronoun::We,
            Pronoun::They,
        ]);
        return Subject::Pronoun(pronoun);
    }
    let nouns: Vec<&Noun> = NOUNS.iter().filter(|n| kinds.contains(&n.kind)).collect();
    Subject::Phrase(noun_phrase(rng, &nouns))
}

/// A noun phrase around one of `nouns` (not empty), with a random determiner, number and
/// (sometimes) adjective.
fn noun_phrase(rng: &mut SplitMix64, nouns: &[&'static Noun]) -> NounPhrase {
    let noun = nouns[rng.index(nouns.len())];
    let det = match rng.below(100) {
        0..40 => Determiner::The,
        40..60 => Determiner::A,
        // "meine Frau" is "my wife": only children are "my" among persons.
        60..68 if noun.kind == Kind::Person && noun.en != "child" => Determiner::The,
        60..68 => Determiner::My,
        68..73 => Determiner::One,
        _ => Determiner::Number(2 + rng.below(98) as u32),
    };
    let plural = match det {
        Determiner::The | Determiner::My => rng.percent(35),
        Determiner::A | Determiner::One => false,
        Determiner::Number(_) => true,
    };
    let adj = if rng.percent(40) {
        let fitting: Vec<_> = ADJECTIVES
            .iter()
            .filter(|a| a.kinds.contains(&noun.kind))
            .collect();
        Some(*rng.pick(&fitting))
    } else {
        None
    };
    NounPhrase {
        noun,
        plural,
        det,
        adj,
    }
}
