using System.Runtime.InteropServices;
using BatchNormLab.Experiments;

namespace BatchNormLab.Cli;

/// <summary>
/// SIGTERM and SIGINT, as for processes that train the plan's runs: before the process ends, every run training in it saves
/// its progress at the end of its current step (<see cref="RunProgress.SaveAllNow"/>), so that the run resumes there. Slurm
/// sends SIGTERM at a task's time limit and SIGKILL KillWait seconds later (30 by default): the wait stays below that.
/// </summary>
static class StopSignals
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>Registers the handlers until disposed.</summary>
    public static IDisposable SaveProgress() => new Registrations(
    [
        PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RunProgress.SaveAllNow(Wait)),
        PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => RunProgress.SaveAllNow(Wait)),
    ]);

    sealed class Registrations(PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (var registration in registrations) registration.Dispose();
        }
    }
}
