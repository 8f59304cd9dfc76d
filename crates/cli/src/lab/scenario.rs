//! What the lab's users do, and what each of them saw.
//!
//! 1. **Alone.** One light and one heavy job on the idle bot: the waits to
//!    compare with.
//! 2. **A burst.** One user sends `burst` heavy jobs at once; `light_delay`
//!    later, `light_users` others send one light job each.
//! 3. **Steady load**, once the burst is over. `steady_users` users each
//!    send `steady_jobs` jobs, a random think time apart (exponential, mean
//!    `steady_gap`), heavy with probability `heavy_share`.
//!
//! Every interaction is signed and sent like Discord's, and followed to its
//! final state on the Discord stand-in (the image, or a last word), with
//! what its answer promised.

use std::collections::BTreeMap;
use std::time::Duration;

use mandala_model::clock::now_ms;
use mandala_model::stream::Stream;
use mandala_model::{RenderSpec, wait};

use super::bot::{APPLICATION_ID, Bot};
use crate::dev::client;

/// The load to apply.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub burst: usize,
    pub heavy: RenderSpec,
    pub light_users: usize,
    pub light: RenderSpec,
    pub light_delay: Duration,
    pub steady_users: usize,
    pub steady_jobs: usize,
    pub steady_gap: Duration,
    pub heavy_share: f64,
    /// How long to wait for every job's final state.
    pub timeout: Duration,
    /// Seeds the steady users' choices.
    pub seed: u64,
}

/// Which part of the scenario an interaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Alone,
    Burst,
    Light,
    Steady,
}

/// What the ingress answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Visible and queued; `told` is the estimate it stated.
    Queued { told: Option<Duration> },
    /// Refused privately: the user's queue is full.
    Full,
    /// Refused privately: the wait would outlive the token.
    TooLong,
    /// Anything else (try again, an error).
    Other(String),
}

/// One interaction, followed to the end.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    pub class: Class,
    pub user: String,
    pub heavy: bool,
    pub token: String,
    /// Unix ms when the answer came back.
    pub answered_ms: u64,
    pub answer: Answer,
    /// Unix ms of the final state, and whether it was the image.
    pub final_ms: Option<u64>,
    pub image: bool,
    /// A waiting notice was seen on its message.
    pub noticed: bool,
}

impl Record {
    /// From the answer to the final state.
    pub fn wait(&self) -> Option<Duration> {
        self.final_ms
            .map(|f| Duration::from_millis(f.saturating_sub(self.answered_ms)))
    }

    pub fn told(&self) -> Option<Duration> {
        match self.answer {
            Answer::Queued { told } => told,
            _ => None,
        }
    }

    pub fn queued(&self) -> bool {
        matches!(self.answer, Answer::Queued { .. })
    }
}

/// Sends one `/mandala` as `user` and records the answer.
async fn send(
    http: &reqwest::Client,
    bot: &Bot,
    class: Class,
    user: &str,
    spec: &RenderSpec,
    heavy: bool,
) -> anyhow::Result<Record> {
    let outgoing = client::command_as(APPLICATION_ID, user, spec);
    let a = client::send(http, &bot.interactions_url, &bot.key, &outgoing).await?;
    let data = a.response.as_ref().and_then(|r| r.data.as_ref());
    let content = data
        .and_then(|d| d.message.content.clone())
        .unwrap_or_else(|| a.text.clone());
    let private = data.and_then(|d| d.message.flags).unwrap_or(0) & 64 != 0;
    let answer = if a.status == 200 && !private && content.starts_with("🌀") {
        Answer::Queued {
            told: wait::parse_approx(&content),
        }
    } else if private && content.contains("in the queue") {
        Answer::Full
    } else if private && content.contains("too long") {
        Answer::TooLong
    } else {
        Answer::Other(content)
    };
    Ok(Record {
        class,
        user: user.to_owned(),
        heavy,
        token: outgoing.token,
        answered_ms: now_ms(),
        answer,
        final_ms: None,
        image: false,
        noticed: false,
    })
}

/// Follows every queued interaction on the stand-in until it ends (or the
/// timeout passes).
async fn follow(bot: &Bot, records: &mut [Record], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut open = 0;
        for r in records
            .iter_mut()
            .filter(|r| r.queued() && r.final_ms.is_none())
        {
            let Some(m) = bot.standin.message_for_token(&r.token) else {
                open += 1;
                continue;
            };
            let content = m.payload.content.clone().unwrap_or_default();
            r.noticed |= content.contains("Still in the queue");
            let image = !m.attachments.is_empty();
            if image || content.starts_with('❌') || content.starts_with('⚠') {
                r.final_ms = Some(m.updated_ms);
                r.image = image;
            } else {
                open += 1;
            }
        }
        if open == 0 || tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the scenario against `bot`.
pub async fn run(bot: &Bot, scenario: &Scenario) -> anyhow::Result<Vec<Record>> {
    let http = reqwest::Client::new();
    let mut records = Vec::new();

    // 0. A first job, not counted: a cold emulator or instance answers its
    // very first requests slowly, which is not what is being measured.
    let mut warm = vec![
        send(
            &http,
            bot,
            Class::Alone,
            "9000000000000000001",
            &scenario.light,
            false,
        )
        .await?,
    ];
    follow(bot, &mut warm, scenario.timeout).await;

    // 1. Alone.
    for (user, spec, heavy) in [
        ("9100000000000000001", &scenario.light, false),
        ("9100000000000000002", &scenario.heavy, true),
    ] {
        let mut one = vec![send(&http, bot, Class::Alone, user, spec, heavy).await?];
        follow(bot, &mut one, scenario.timeout).await;
        records.extend(one);
    }

    // 2. The burst and the light users; 3. steady load.
    for mut phase in [
        burst_phase(&http, bot, scenario).await?,
        steady_phase(&http, bot, scenario).await?,
    ] {
        follow(bot, &mut phase, scenario.timeout).await;
        records.extend(phase);
    }
    Ok(records)
}

/// One user's burst of heavy jobs, and the light users who come just after.
async fn burst_phase(
    http: &reqwest::Client,
    bot: &Bot,
    scenario: &Scenario,
) -> anyhow::Result<Vec<Record>> {
    let burster = "9200000000000000001";
    let burst = async {
        let mut out = Vec::new();
        for _ in 0..scenario.burst {
            out.push(send(http, bot, Class::Burst, burster, &scenario.heavy, true).await?);
        }
        Ok::<_, anyhow::Error>(out)
    };
    let lights = async {
        tokio::time::sleep(scenario.light_delay).await;
        let sends = (0..scenario.light_users).map(|i| {
            let user = format!("93{:017}", i + 1);
            async move { send(http, bot, Class::Light, &user, &scenario.light, false).await }
        });
        futures::future::try_join_all(sends).await
    };
    let (burst, lights) = tokio::try_join!(burst, lights)?;
    Ok(burst.into_iter().chain(lights).collect())
}

/// Users sending jobs with exponential think times, some heavy.
async fn steady_phase(
    http: &reqwest::Client,
    bot: &Bot,
    scenario: &Scenario,
) -> anyhow::Result<Vec<Record>> {
    let mut stream = Stream::new(scenario.seed, 0x5ead);
    let plans: Vec<Vec<(Duration, bool)>> = (0..scenario.steady_users)
        .map(|_| {
            (0..scenario.steady_jobs)
                .map(|_| {
                    // Exponential think time: -ln(U) × mean.
                    let u = stream.unit().max(1e-9);
                    let gap = scenario.steady_gap.mul_f64(-u.ln());
                    (gap, stream.chance(scenario.heavy_share))
                })
                .collect()
        })
        .collect();
    let users = plans.into_iter().enumerate().map(|(i, plan)| {
        let user = format!("94{:017}", i + 1);
        async move {
            let mut out = Vec::new();
            for (gap, heavy) in plan {
                tokio::time::sleep(gap).await;
                let spec = if heavy {
                    &scenario.heavy
                } else {
                    &scenario.light
                };
                out.push(send(http, bot, Class::Steady, &user, spec, heavy).await?);
            }
            Ok::<_, anyhow::Error>(out)
        }
    });
    Ok(futures::future::try_join_all(users)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Counts records by a key, for the report.
pub fn count_by<K: Ord>(records: &[Record], key: impl Fn(&Record) -> K) -> BTreeMap<K, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        *m.entry(key(r)).or_insert(0) += 1;
    }
    m
}
