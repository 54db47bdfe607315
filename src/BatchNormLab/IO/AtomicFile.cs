namespace BatchNormLab.IO;

/// <summary>
/// Writes a file so that readers see the old content or the new, never a torn mix: the bytes go to a
/// temporary file beside the target, are flushed to disk, and the temporary file is renamed over it.
/// </summary>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> on a stream to a temporary file, flushes it to disk and renames it over <paramref name="path"/>, creating the directory if needed; on failure the temporary file is deleted.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = $"{full}.tmp-{Environment.ProcessId}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 to <paramref name="path"/>, atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });
}
