use super::*;

#[tokio::test]
async fn work_runs_on_the_thread_and_a_panic_is_reported_not_fatal() {
    let thread = FoldThread::start().unwrap();
    let here = std::thread::current().id();
    let ran_on = thread.run(|| std::thread::current().id()).await.unwrap();
    assert_ne!(ran_on, here);
    assert_eq!(thread.run(|| -> u32 { panic!("a bad fold") }).await, None);
    assert_eq!(
        thread.run(|| 6 * 7).await,
        Some(42),
        "still serving after a panic"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_thread_runs_nicer_than_the_rest_of_the_process() {
    use rustix::process::getpriority_process;
    let nice = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
    let ours = nice();
    let theirs = FoldThread::start().unwrap().run(nice).await.unwrap();
    assert_eq!(theirs, (ours + NICER_BY).min(19));
    assert_eq!(nice(), ours, "the caller's own priority is unchanged");
}
