; Inno Setup 6 script of the MI Net Desktop installer for Windows (x64).
;
; packaging\windows\build_windows.ps1 builds the PyInstaller folder and then runs
;   ISCC /DAppVersion=0.1.0 /DSourceDir=<dist\minet-desktop> /DOutputDir=<dist> packaging\windows\minet_desktop.iss
; which gives <dist>\minet-desktop-<version>-windows-x64-setup.exe. Per-user or all-users install (the user
; chooses), a Start-menu entry, an optional desktop icon, and an uninstaller in Settings > Apps.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\minet-desktop"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#define AppName "MI Net Desktop"
#define AppExe "minet-desktop.exe"

[Setup]
; The AppId identifies the app to Windows across versions (upgrades replace, uninstall finds it): never change it.
AppId={{9375186B-F41E-4B7F-B304-67110888BD4C}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=minet-desktop-{#AppVersion}-windows-x64-setup
UninstallDisplayIcon={app}\{#AppExe}
; The folder holds PyTorch and Qt (over a gigabyte): LZMA2 at a moderate level, not solid, keeps the compiler's
; memory and time reasonable. Inno Setup needs DiskSpanning=yes (setup.exe + setup-N.bin files, shipped
; together) once the compressed payload passes 4,200,000,000 bytes; PyPI's CPU-only PyTorch for Windows stays
; well below that, a CUDA build of PyTorch (2.5 GB compressed on Linux) may not.
Compression=lzma2/normal
SolidCompression=no
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
