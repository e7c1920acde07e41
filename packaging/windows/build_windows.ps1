<#
.SYNOPSIS
  Builds the MI Net Desktop app for Windows: the PyInstaller folder, checked with its self-test and an offscreen
  start, and an Inno Setup installer of it.

.DESCRIPTION
  Run from a PowerShell prompt at the repository root, with Python 3.11 (x64) and Inno Setup 6 installed:

    powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1

  Results (under -OutDir, default dist\):
    dist\minet-desktop\                                     the app (minet-desktop.exe; minet-desktop-cli.exe
                                                            for the command line)
    dist\minet-desktop-<version>-windows-x64-setup.exe      the installer

  Without -Python, a virtual environment .venv-windows\ is created (or reused) and the app is installed into it
  with the project's pins as constraints (requirements\lock.txt: the ones that exist on Windows apply; the Linux
  CUDA packages are not needed by PyPI's Windows PyTorch and are skipped) plus PyInstaller from
  requirements\dev.txt.

.PARAMETER Python
  An interpreter that already has the app and PyInstaller installed (skips the environment set-up).
.PARAMETER OutDir
  Where the app and the installer go (default: dist).
.PARAMETER WorkDir
  PyInstaller's scratch folder (default: build\pyinstaller).
.PARAMETER Iscc
  Path of Inno Setup's ISCC.exe (default: on PATH, else the usual install folders).
.PARAMETER NoInstaller
  Build and check the folder only.
#>
param(
  [string]$Python = "",
  [string]$OutDir = "dist",
  [string]$WorkDir = "build\pyinstaller",
  [string]$Iscc = "",
  [switch]$NoInstaller
)
$ErrorActionPreference = "Stop"
Set-Location (Resolve-Path "$PSScriptRoot\..\..")
$repo = (Get-Location).Path

function Invoke-Checked([string]$exe, [string[]]$arguments) {
  & $exe @arguments
  if ($LASTEXITCODE -ne 0) { throw "$exe $($arguments -join ' ') failed with exit status $LASTEXITCODE" }
}

if (-not $Python) {
  $venv = Join-Path $repo ".venv-windows"
  if (-not (Test-Path "$venv\Scripts\python.exe")) {
    Write-Host "== creating $venv"
    Invoke-Checked "py" @("-3.11", "-m", "venv", $venv)
  }
  $Python = "$venv\Scripts\python.exe"
  Write-Host "== installing the app and PyInstaller into $venv"
  Invoke-Checked $Python @("-m", "pip", "install", "-q", "--disable-pip-version-check",
    "-c", "requirements\lock.txt", "-r", "requirements\dev.txt", "-e", ".")
}
$version = (& $Python -c "import minet_desktop; print(minet_desktop.__version__)").Trim()

$watch = [System.Diagnostics.Stopwatch]::StartNew()
Write-Host "== PyInstaller: $OutDir\minet-desktop"
if (Test-Path "$OutDir\minet-desktop") { Remove-Item -Recurse -Force "$OutDir\minet-desktop" }
Invoke-Checked $Python @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
  "--distpath", $OutDir, "--workpath", $WorkDir, "packaging\minet_desktop.spec")
Write-Host ("   built in {0:N0} s" -f $watch.Elapsed.TotalSeconds)

# minet-desktop.exe is a windowed app (no console, so no output to check); the -cli twin shares its folder.
$cli = Join-Path $OutDir "minet-desktop\minet-desktop-cli.exe"
Write-Host "== self-test"
Invoke-Checked $cli @("--self-test", "-o", (Join-Path $WorkDir "self_test.wav"))

Write-Host "== offscreen start"
$env:QT_QPA_PLATFORM = "offscreen"
$env:MINET_DESKTOP_EXIT_AFTER_INIT = "1"
$demo = Join-Path $OutDir "minet-desktop\_internal\resources\demo\violin.mp4"
# The log goes to stderr; Windows PowerShell 5.1 turns redirected stderr lines into errors, which "Stop" throws.
$ErrorActionPreference = "Continue"
$log = & $cli $demo 2>&1 | Out-String
$status = $LASTEXITCODE
$ErrorActionPreference = "Stop"
Remove-Item Env:QT_QPA_PLATFORM, Env:MINET_DESKTOP_EXIT_AFTER_INIT
Write-Host $log
if ($status -ne 0 -or $log -notmatch "init finished") { throw "the app did not finish starting (exit status $status)" }

if (-not $NoInstaller) {
  if (-not $Iscc) {
    $found = Get-Command "ISCC.exe" -ErrorAction SilentlyContinue
    if ($found) { $Iscc = $found.Source }
    else {
      $Iscc = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
        "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") | Where-Object { Test-Path $_ } | Select-Object -First 1
    }
    if (-not $Iscc) { throw "Inno Setup 6 (ISCC.exe) not found: install it from https://jrsoftware.org or pass -Iscc" }
  }
  Write-Host "== installer"
  $source = (Resolve-Path "$OutDir\minet-desktop").Path
  $out = (Resolve-Path $OutDir).Path
  Invoke-Checked $Iscc @("/Q", "/DAppVersion=$version", "/DSourceDir=$source", "/DOutputDir=$out",
    "packaging\windows\minet_desktop.iss")
}

$size = (Get-ChildItem -Recurse -File "$OutDir\minet-desktop" | Measure-Object -Sum Length).Sum / 1MB
Write-Host ("== done in {0:N0} s: app {1:N0} MB" -f $watch.Elapsed.TotalSeconds, $size)
Get-ChildItem "$OutDir\minet-desktop-*-setup.exe" -ErrorAction SilentlyContinue |
  ForEach-Object { Write-Host ("   {0} ({1:N0} MB)" -f $_.FullName, ($_.Length / 1MB)) }
