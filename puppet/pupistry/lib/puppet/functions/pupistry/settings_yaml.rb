# frozen_string_literal: true

require 'yaml'

# @summary The text of pupistry's settings.yaml for the given sections.
#
# Puppet's language cannot write YAML, and a hand-built text would have to
# quote every value itself; Ruby's emitter quotes what YAML would misread
# (`yes`, `0x1F`, a leading `*`), so pupistry reads back exactly the values given.
Puppet::Functions.create_function(:'pupistry::settings_yaml') do
  # @param settings Sections (`general`, `agent`) mapping keys to plain values.
  # @param header A comment placed above the settings.
  # @return [String] The file's text.
  dispatch :render do
    param 'Pupistry::Settings', :settings
    param 'String', :header
    return_type 'String'
  end

  def render(settings, header)
    comment = header.lines.map { |line| "# #{line.chomp}\n" }.join
    comment + YAML.dump(settings)
  end
end
